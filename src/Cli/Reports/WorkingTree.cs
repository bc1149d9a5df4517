namespace CircuitDsl.Cli.Reports;

/// <summary>Finds files of the repository (or of ../shared beside it) from wherever the tool is run inside it.</summary>
internal static class WorkingTree
{
    /// <summary>
    /// The first existing file <paramref name="relativePath"/> below the current directory or one of its parents,
    /// or null when none has it.
    /// </summary>
    public static string? FindAbove(string relativePath)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relativePath);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
