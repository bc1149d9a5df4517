namespace CircuitDsl.Cli.Reports;

/// <summary>Finds the toy models shipped with the tool (copied next to it at build; else the repository's models/).</summary>
public static class EmbeddedModels
{
    /// <summary>The folder of toy model <paramref name="name"/> (<c>ioi</c>, <c>induction</c>, <c>greater-than</c>).</summary>
    public static string Locate(string name)
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "models", name);
        if (Directory.Exists(beside)) return beside;
        if (WorkingTree.FindAbove(Path.Combine("models", name, "config.json")) is { } config) return Path.GetDirectoryName(config)!;
        throw new DirectoryNotFoundException($"Toy model '{name}' not found beside the tool or under models/; run `circuit train-toy {name} --out models/{name}`.");
    }
}
