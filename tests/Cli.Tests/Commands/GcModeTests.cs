using System.Runtime;

namespace CircuitDsl.Cli.Tests.Commands;

/// <summary>A run holds garbage collection off while it calls libtorch (README, Limitations) and gives the process its
/// mode back when it ends: checked here, where no test runs inside a pause of its own.</summary>
public class GcModeTests
{
    [Fact]
    public void An_attribution_leaves_the_process_gc_mode_as_it_found_it()
    {
        var before = GCSettings.LatencyMode;
        before.Should().NotBe(GCLatencyMode.NoGCRegion);
        var (code, _) = CliTests.Run(["attribute", "--model", CliTests.Repo("models", "ioi"), "--pairs", CliTests.Repo("examples", "CircuitTests", "data", "ioi-toy.jsonl"),
            "--methods", "patching"]);
        code.Should().Be(0);
        GCSettings.LatencyMode.Should().Be(before);
    }
}
