using System.Runtime;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Holds garbage collection off while attribution, edges, faithfulness, training or the bench run, and restores the
/// process's mode after the last concurrent run ends.
/// TorchSharp 0.107 frees the Scalars it makes from numbers (every <c>a + b</c> passes one) in their finalizers without
/// keeping one alive while libtorch reads it, so a collection — background, or started by another thread — can queue
/// one for finalization under the call, and the finalizer thread frees it there (README, Limitations): 4 of 8 scratch
/// processes of 192 attributions with background GC, and about one test run in six without it. A run therefore asks
/// for a no-GC region (<see cref="GC.TryStartNoGCRegion(long)"/>): no collection, hence no finalizer, until it ends or
/// has allocated <see cref="NoGcBudget"/> of managed memory (a run allocates its tensors' small handles; their native
/// memory is freed by dispose scopes, not by the GC). Background GC is also switched off
/// (<see cref="GCLatencyMode.Batch"/>), for what runs after the budget, in hosts that kept concurrent GC on.
/// </summary>
internal static class GcPause
{
    /// <summary>Managed bytes a run may allocate before collections resume.</summary>
    public const long NoGcBudget = 128L << 20;

    private static readonly object Gate = new();
    private static int _runs;
    private static GCLatencyMode? _restore; // the mode the first run switched away from; null when it left it as it was
    private static bool _noGc;              // whether the first run started the no-GC region

    /// <summary>Pauses garbage collection until the returned scope is disposed.</summary>
    public static IDisposable Enter()
    {
        lock (Gate)
        {
            if (_runs++ == 0)
            {
                if (GCSettings.LatencyMode is GCLatencyMode.Interactive or GCLatencyMode.SustainedLowLatency)
                {
                    _restore = GCSettings.LatencyMode;
                    GCSettings.LatencyMode = GCLatencyMode.Batch;
                }
                // Without a full blocking collection to make room (it took 6 ms on a 200 MB heap; this start takes
                // microseconds): where there is no room, the run goes on with collections in batch mode.
                try { _noGc = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(NoGcBudget, disallowFullBlockingGC: true); }
                catch (InvalidOperationException) { _noGc = false; } // the host holds its own region
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
                if (--_runs > 0) return;
                // Unless a collection ended it already (the budget ran out, or a GC.Collect).
                if (_noGc && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
                _noGc = false;
                if (_restore is { } mode && GCSettings.LatencyMode == GCLatencyMode.Batch) GCSettings.LatencyMode = mode; // unless the host changed it meanwhile
                _restore = null;
            }
        }
    }
}
