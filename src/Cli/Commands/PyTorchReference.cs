using System.Text.Json;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Benchmarks;

namespace CircuitDsl.Cli.Commands;

/// <summary>
/// PyTorch eager times for the same operations on the GPT-2-small shape (bench/pytorch_reference.py), so the bench
/// shows TorchSharp / PyTorch per operation and the engine's HVP against the way a PyTorch user computes it.
/// </summary>
/// <param name="Seconds">Seconds by operation name (the bench's own row names).</param>
/// <param name="Machine">What the script reports about its torch, threads and BLAS.</param>
internal sealed record PyTorchReference(IReadOnlyDictionary<string, double> Seconds, JsonElement Machine)
{
    internal const string Script = "bench/pytorch_reference.py";

    /// <summary>Reads a JSON file the script wrote (<c>--json</c>).</summary>
    public static PyTorchReference Load(string file)
    {
        if (!File.Exists(file)) throw new BenchInputException($"--pytorch: no file '{file}' (give the JSON bench/pytorch_reference.py wrote, or 'run').");
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(file));
            var rows = json.RootElement.GetProperty("rows").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            return new PyTorchReference(rows, json.RootElement.GetProperty("machine").Clone());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new BenchInputException($"--pytorch: '{file}' is not the JSON bench/pytorch_reference.py writes ({e.Message}).");
        }
    }

    /// <summary>The PyTorch times the bench took beside its own (<see cref="BenchRow.ReferenceSeconds"/>).</summary>
    public static PyTorchReference FromRows(IEnumerable<BenchRow> rows, JsonElement machine) =>
        new(rows.Where(r => r.ReferenceSeconds is not null).ToDictionary(r => r.Operation, r => r.ReferenceSeconds!.Value), machine);

    /// <summary>TorchSharp / PyTorch for every operation both measured (target ≤ 1.1), and the engine's HVP against PyTorch's.</summary>
    public IEnumerable<BenchRatio> Compare(IEnumerable<BenchRow> ours)
    {
        var rows = ours.ToList();
        foreach (var row in rows)
            if (Seconds.TryGetValue(row.Operation, out double theirs) && theirs > 0)
                yield return new(row.Shape, $"TorchSharp / PyTorch: {row.Operation}", row.Seconds / theirs, "≤ 1.1", row.Seconds / theirs <= 1.1);
        var engine = rows.FirstOrDefault(r => r.Operation.StartsWith("HVP, all heads (cached start, Taylor", StringComparison.Ordinal));
        if (engine is not null && Seconds.TryGetValue("HVP, all heads (full forward, double backward)", out double reference))
            yield return new(engine.Shape, "engine HVP (jets) / PyTorch HVP (full forwards, double backward)", engine.Seconds / reference, "report", true);
    }

    internal static string FindScript() => WorkingTree.FindAbove(Script)
        ?? throw new BenchInputException($"--pytorch run: {Script} not found above {Directory.GetCurrentDirectory()}; run from the repository.");
}

/// <summary>Bad input to <c>circuit bench</c>.</summary>
internal sealed class BenchInputException(string message) : ArgumentException(message);
