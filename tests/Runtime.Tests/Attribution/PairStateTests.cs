using CircuitDsl.Runtime.Attribution;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>What a pair's state keeps after the passes that built it (it lives for the whole run).</summary>
public class PairStateTests
{
    [SkippableFact]
    public void A_pair_keeps_its_own_rows_not_views_of_the_batch_its_passes_ran_in()
    {
        var (model, _, masks, first) = EngineDerivativeTests.Setup("gpt2");
        var second = new PromptPair(first.Corrupted, first.Clean, first.Wrong, first.Answer);
        var probes = new[] { 1, 2 }.Select(seed => new HutchinsonProbes(masks, 4, seed)).ToArray();
        // Two pairs with four probes each: one 12-row pass, of which each pair's state needs its clean row (and δ).
        var states = PairState.BuildMany(model, [first, second], [.. masks.Components.Select(x => x.Site).Distinct()], null, true, new CostLedger(), out _,
            probes, recordCleanRun: true);
        foreach (var state in states)
        {
            Tensor[] kept = [.. state.ResidPre, .. state.CleanKeys, .. state.CleanValues, .. state.Delta.Values, .. state.CleanGradient.Values,
                .. state.CorruptedGradient.Values];
            kept.Should().NotBeEmpty();
            foreach (var tensor in kept)
                ((long)tensor.storage<double>().nbytes()).Should().Be(tensor.numel() * tensor.ElementSize, "a view of the batch would keep all its rows alive");
            state.Bytes.Should().Be(kept.Sum(t => t.numel() * t.ElementSize) + state.CleanRecord!.Bytes);
            state.CleanRecord.Bytes.Should().BePositive();
        }
    }
}
