namespace CircuitDsl.Cli.Rendering;

/// <summary>
/// Reports on the caller's thread. <see cref="Progress{T}"/> would post each report to the thread pool, whose
/// allocations can start a garbage collection while the engine's thread is inside a libtorch call; see
/// <see cref="ProgressBars"/> for why that must not happen.
/// </summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    /// <summary>Progress that is dropped.</summary>
    public static SynchronousProgress<T> None { get; } = new(_ => { });

    /// <inheritdoc />
    public void Report(T value) => report(value);
}
