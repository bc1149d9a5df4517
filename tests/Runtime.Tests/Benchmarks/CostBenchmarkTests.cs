using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Benchmarks;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Runtime.Tests.Benchmarks;

/// <summary>How the bench times a reference beside itself (timings themselves are never asserted).</summary>
public class CostBenchmarkTests
{
    private sealed class CountingReference(params string[] operations) : IReferenceTimer
    {
        public Dictionary<string, int> Calls { get; } = [];

        public double? Time(string operation)
        {
            if (!operations.Contains(operation)) return null;
            Calls[operation] = Calls.GetValueOrDefault(operation) + 1;
            return Calls[operation]; // 1, 2, 3: the median round is the second
        }
    }

    [Fact]
    public void A_reference_is_timed_in_rounds_alternating_with_the_bench_and_only_for_operations_it_has()
    {
        var config = new ModelConfig { Family = ModelFamily.Gpt2, VocabSize = 64, Hidden = 32, Layers = 2, Heads = 2, KvHeads = 2, HeadDim = 16, Intermediate = 64,
            MaxPositions = 16, Norm = NormKind.LayerNorm, Act = Activation.GeluTanh, GatedMlp = false, LearnedPositions = true, QkvBias = true, OutBias = true,
            MlpBias = true, TiedEmbeddings = true };
        var shape = new BenchShape("tiny (synthetic)", ToyTrainer.Initialise(config, seed: 1), new PromptPair([1, 2, 3, 4, 5, 6], [1, 2, 9, 4, 5, 6], 7, 8), PerPosition: false);
        var reference = new CountingReference("forward (1 row)", "AtP, all heads (2F + 1B)");

        var (rows, _) = CostBenchmark.Run(shape, repeats: 1, reference: reference);

        reference.Calls.Should().Equal(new Dictionary<string, int> { ["forward (1 row)"] = CostBenchmark.AlternatingRounds, ["AtP, all heads (2F + 1B)"] = CostBenchmark.AlternatingRounds });
        rows.Single(r => r.Operation == "forward (1 row)").ReferenceSeconds.Should().Be(2);
        rows.Where(r => r.Operation is not ("forward (1 row)" or "AtP, all heads (2F + 1B)")).Should().OnlyContain(r => r.ReferenceSeconds == null);
    }
}

/// <summary>What the bench's memory figures rest on.</summary>
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
