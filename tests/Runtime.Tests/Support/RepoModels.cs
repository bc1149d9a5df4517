namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>The toy models committed under models/ (ours: trained by `circuit train-toy`).</summary>
public static class RepoModels
{
    public static string Path(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "CircuitDsl.sln")))
                return System.IO.Path.Combine(dir.FullName, "models", name);
        throw new DirectoryNotFoundException("Repository root (CircuitDsl.sln) not found above the test binaries.");
    }
}
