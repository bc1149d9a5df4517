using System.Runtime;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tests.Support;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>
/// Attribution runs without garbage collection (TorchSharp 0.107's Scalars can be freed under a libtorch call by a
/// collection's finalizers; README, Limitations) and leaves the process's mode as it found it.
/// </summary>
public class GcPauseTests
{
    [SkippableFact]
    public void An_attribution_run_collects_nothing_and_restores_the_mode_after_it()
    {
        var model = Fixtures.Load("llama");
        var before = GCSettings.LatencyMode;
        var during = new List<(GCLatencyMode Mode, int Collections)>();
        var progress = new SynchronousProgress<AttributionProgress>(_ => during.Add((GCSettings.LatencyMode, GC.CollectionCount(0))));

        new AttributionEngine(model).Run([new PromptPair([1, 2, 3, 4], [1, 2, 5, 4], 7, 8)], Components.Heads(model.Config), progress: progress);

        during.Should().NotBeEmpty().And.OnlyContain(x => x.Mode == GCLatencyMode.NoGCRegion, "a small run stays within the no-GC budget");
        during.Select(x => x.Collections).Distinct().Should().ContainSingle("no collection, so no finalizer, while it calls libtorch");
        GCSettings.LatencyMode.Should().Be(before);
    }

    [Fact]
    public void Nested_and_ended_regions_leave_the_mode_as_found()
    {
        var before = GCSettings.LatencyMode;
        using (GcPause.Enter())
        {
            using (GcPause.Enter()) GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion);
            GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion, "the outer run still holds it");
            GC.Collect(); // ends the region, as the bench's collections between timed runs do
        }
        GCSettings.LatencyMode.Should().Be(before);
    }
}
