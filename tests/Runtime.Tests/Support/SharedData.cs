using CircuitDsl.Tests.Support;

namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>Finds <c>../shared</c> (models and fixtures that must never be copied into this repository).</summary>
public static class SharedData
{
    public static string? Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root ?? "", .. parts]);

    /// <summary>Skips the calling test with a clear message when the shared folder is absent.</summary>
    public static string Require(params string[] parts)
    {
        string path = Path(parts);
        Skip.If(Root is null || !(File.Exists(path) || Directory.Exists(path)),
            $"Needs ../shared/{string.Join('/', parts)} beside the repository (or CIRCUITDSL_SHARED); not present here.");
        return path;
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CIRCUITDSL_SHARED") is { Length: > 0 } env && Directory.Exists(env))
            return env;
        if (RepositoryRoot.Find() is not { } root) return null;
        string shared = System.IO.Path.GetFullPath(System.IO.Path.Combine(root, "..", "shared"));
        return Directory.Exists(shared) ? shared : null;
    }
}
