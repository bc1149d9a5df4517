using System.Runtime;
using System.Text.Json;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;

namespace CircuitDsl.Cli.Tests.Rendering;

// Why these matter: TorchSharp 0.107 frees the Scalars it makes from numbers in finalizers, so a garbage collection
// started by another thread during a libtorch call can free a Scalar that call still reads (README, Limitations).
public class ProgressBarsTests
{
    [Fact]
    public void Progress_bars_outside_a_terminal_hand_the_engine_a_synchronous_progress()
    {
        var progress = ProgressBars.Run("test", p => p);

        progress.Should().BeOfType<SynchronousProgress<AttributionProgress>>("Progress<T> would post each report to the thread pool");
    }

    [Fact]
    public void The_tool_and_the_test_hosts_run_without_background_garbage_collection()
    {
        GCSettings.LatencyMode.Should().Be(GCLatencyMode.Batch, "Directory.Build.props turns concurrent GC off for test hosts");
        string config = Path.Combine(AppContext.BaseDirectory, "circuit.runtimeconfig.json");
        using var json = JsonDocument.Parse(File.ReadAllText(config));
        json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").GetProperty("System.GC.Concurrent").GetBoolean()
            .Should().BeFalse();
    }
}
