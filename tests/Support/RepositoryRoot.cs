namespace CircuitDsl.Tests.Support;

/// <summary>
/// Paths inside the repository, found from the test binaries by walking up to the folder that holds CircuitDsl.sln.
/// One file, linked into each test project that reads the committed models or ../shared.
/// </summary>
internal static class RepositoryRoot
{
    /// <summary>The repository folder, or null when the binaries do not live inside one.</summary>
    public static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CircuitDsl.sln"))) return dir.FullName;
        return null;
    }

    /// <summary>A path inside the repository; throws when the binaries do not live inside one.</summary>
    public static string Combine(params string[] parts) =>
        Path.Combine([Find() ?? throw new DirectoryNotFoundException("Repository root (CircuitDsl.sln) not found above the test binaries."), .. parts]);
}
