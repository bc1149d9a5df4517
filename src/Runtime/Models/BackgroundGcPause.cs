using System.Runtime;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Turns background garbage collection off while attribution, training, a faithfulness curve or the bench runs, and
/// back on after the last concurrent run ends.
/// TorchSharp 0.107 frees the Scalars it makes from numbers (every <c>a + b</c> passes one) in their finalizers without
/// keeping one alive while libtorch reads it; a background collection beside such a call freed it under the call in 4
/// of 8 scratch processes of 192 attributions (README, Limitations). <see cref="GCLatencyMode.Batch"/> is the runtime's
/// own switch for that, so hosts that kept the default concurrent GC are covered too.
/// </summary>
internal static class BackgroundGcPause
{
    private static readonly object Gate = new();
    private static int _runs;
    private static GCLatencyMode? _restore; // the mode the first run switched away from; null when it left it as it was

    /// <summary>Pauses background GC until the returned scope is disposed.</summary>
    public static IDisposable Enter()
    {
        lock (Gate)
        {
            if (_runs++ == 0 && GCSettings.LatencyMode is GCLatencyMode.Interactive or GCLatencyMode.SustainedLowLatency)
            {
                _restore = GCSettings.LatencyMode;
                GCSettings.LatencyMode = GCLatencyMode.Batch;
            }
        }
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            lock (Gate)
            {
                if (--_runs > 0 || _restore is not { } mode) return;
                if (GCSettings.LatencyMode == GCLatencyMode.Batch) GCSettings.LatencyMode = mode; // unless the host changed it meanwhile
                _restore = null;
            }
        }
    }
}
