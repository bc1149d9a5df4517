using CircuitDsl.Tests.Support;

namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>The toy models committed under models/ (ours: trained by `circuit train-toy`).</summary>
public static class RepoModels
{
    public static string Path(string name) => RepositoryRoot.Combine("models", name);
}
