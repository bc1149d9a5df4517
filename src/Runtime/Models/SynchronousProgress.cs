namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Progress reported on the caller's thread, as <see cref="Attribution.AttributionEngine.Run"/> and training want it.
/// <see cref="Progress{T}"/> would post each report to the thread pool, whose allocations can start a garbage
/// collection while the engine's thread is inside a libtorch call: TorchSharp 0.107 frees the Scalars it makes from
/// numbers in finalizers, so such a collection can free one under that call (README, Limitations).
/// </summary>
/// <param name="report">Called with each report, before <see cref="Report"/> returns.</param>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    /// <summary>Progress that is dropped.</summary>
    public static SynchronousProgress<T> None { get; } = new(_ => { });

    /// <inheritdoc />
    public void Report(T value) => report(value);
}
