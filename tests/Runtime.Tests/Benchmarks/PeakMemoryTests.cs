using CircuitDsl.Runtime.Benchmarks;

namespace CircuitDsl.Runtime.Tests.Benchmarks;

/// <summary>What the bench's memory figures rest on. Peak memory is read from the process's resident set: no other
/// test may allocate meanwhile, which holds as test classes run one at a time (Support/OneTorchThread.cs).</summary>
public class PeakMemoryTests
{
    [SkippableFact]
    public void Tensors_held_during_the_work_are_counted_and_its_exceptions_reach_the_caller()
    {
        Skip.IfNot(PeakMemory.Supported, "Peak RSS is read from /proc (Linux).");
        static void Hold(int megabytes)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            // Many mid-sized tensors, as a pass makes: each below glibc's default 32 MiB mapping threshold.
            var parts = Enumerable.Range(0, megabytes / 4).Select(_ => TorchSharp.torch.ones(1 << 20)).ToList();
            parts.Sum(p => p.sum().item<float>()).Should().BeGreaterThan(0);
        }

        long alone = PeakMemory.Measure(() => Hold(256));
        Hold(512); // unmeasured: leaves 512 MB of free chunks in the main thread's heap
        long afterLargerWork = PeakMemory.Measure(() => Hold(256));

        alone.Should().BeInRange(200L << 20, 400L << 20);
        afterLargerWork.Should().BeInRange(200L << 20, 400L << 20);
        FluentActions.Invoking(() => PeakMemory.Measure(() => throw new InvalidOperationException("inside")))
            .Should().Throw<InvalidOperationException>().WithMessage("inside");
    }
}
