using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>Progress the engine reports stays on its thread (README, Limitations: TorchSharp 0.107's Scalars).</summary>
public class SynchronousProgressTests
{
    [Fact]
    public void Progress_is_reported_on_the_engine_thread_before_Report_returns()
    {
        int engineThread = Environment.CurrentManagedThreadId, reportedOn = -1;
        IProgress<AttributionProgress> progress = new SynchronousProgress<AttributionProgress>(_ => reportedOn = Environment.CurrentManagedThreadId);

        progress.Report(new("screen", 0, 1));

        reportedOn.Should().Be(engineThread);
    }
}
