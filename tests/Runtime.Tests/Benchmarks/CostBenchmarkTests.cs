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
