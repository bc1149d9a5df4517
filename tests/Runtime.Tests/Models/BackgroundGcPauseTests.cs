using System.Runtime;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tests.Support;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>
/// Attribution runs without background GC (TorchSharp 0.107's Scalars can be freed under a libtorch call beside one;
/// README, Limitations) and leaves the process's mode as it found it. This host already runs without concurrent GC
/// (Directory.Build.props); under DOTNET_gcConcurrent=1 the same test sees the switch happen.
/// </summary>
public class BackgroundGcPauseTests
{
    [SkippableFact]
    public void An_attribution_run_pauses_background_gc_and_restores_the_mode_after_it()
    {
        var model = Fixtures.Load("llama");
        var before = GCSettings.LatencyMode;
        var during = new List<GCLatencyMode>();
        var progress = new SynchronousProgress<AttributionProgress>(_ => during.Add(GCSettings.LatencyMode));

        new AttributionEngine(model).Run([new PromptPair([1, 2, 3, 4], [1, 2, 5, 4], 7, 8)], Components.Heads(model.Config), progress: progress);

        during.Should().NotBeEmpty().And.OnlyContain(mode => mode == GCLatencyMode.Batch);
        GCSettings.LatencyMode.Should().Be(before);
    }
}
