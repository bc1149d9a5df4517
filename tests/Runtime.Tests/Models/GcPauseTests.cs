using System.Runtime;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tests.Support;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>
/// Attribution runs without garbage collection (TorchSharp 0.107's Scalars can be freed under a libtorch call by a
/// collection's finalizers; README, Limitations). That the last run out restores the process's mode is checked in a
/// process of its own (Cli.Tests), as every test here runs inside a pause.
/// </summary>
public class GcPauseTests
{
    [SkippableFact]
    public void An_attribution_run_collects_nothing()
    {
        var model = Fixtures.Load("llama");
        var during = new List<(GCLatencyMode Mode, int Collections)>();
        var progress = new SynchronousProgress<AttributionProgress>(_ => during.Add((GCSettings.LatencyMode, GC.CollectionCount(0))));

        new AttributionEngine(model).Run([new PromptPair([1, 2, 3, 4], [1, 2, 5, 4], 7, 8)], Components.Heads(model.Config), progress: progress);

        during.Should().NotBeEmpty().And.OnlyContain(x => x.Mode == GCLatencyMode.NoGCRegion, "a small run stays within the no-GC budget");
        during.Select(x => x.Collections).Distinct().Should().ContainSingle("no collection, so no finalizer, while it calls libtorch");
    }

    [Fact]
    public void Runs_nest_in_one_region_and_a_collection_that_ends_it_leaves_them_free_to_end()
    {
        // This assembly's tests run inside a pause of their own (HoldCollections), so these nest in it.
        GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion);
        using (GcPause.Enter()) GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion);
        GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion, "the outer pause still holds it");

        var run = GcPause.Enter();
        GC.Collect(); // ends the region, as the bench's collections between timed runs do
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion);
        run.Invoking(x => x.Dispose()).Should().NotThrow();
    }
}
