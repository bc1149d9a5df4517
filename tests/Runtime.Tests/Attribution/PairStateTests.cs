using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Training;
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

/// <summary>A state built without gradients: one forward of the clean and corrupted prompts, enough for patching.</summary>
public class ForwardOnlyPairStateTests
{
    [Fact]
    public void A_state_without_gradients_patches_as_a_full_one_from_one_forward()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pair = new IoiTask().Pairs(1, seed: 7)[0];
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var sites = components.Select(c => c.Site).Distinct().ToList();
        using var masks = new ComponentMasks(components, model.Config, pair.Clean.Count, model.Device);
        int[] all = [.. Enumerable.Range(0, components.Count)];
        var cost = new CostLedger();

        var full = PairState.Build(model, pair, sites, null, false, new CostLedger(), out _);
        var forwardOnly = PairState.Build(model, pair, sites, null, false, cost, out _, gradients: false);

        cost.ByMethod.Should().ContainSingle().Which.Value.Should().Match<MethodCost>(x => x.Forwards == 1 && x.Backwards == 0 && x.Rows == 2);
        forwardOnly.CleanGradient.Should().BeEmpty();
        forwardOnly.CleanMetric.Should().BeApproximately(full.CleanMetric, 1e-6);
        forwardOnly.CorruptedMetric.Should().BeApproximately(full.CorruptedMetric, 1e-6);
        var expected = ActivationPatching.Estimate(new PhiEvaluator(model, full, masks, 64), all, new CostLedger());
        var actual = ActivationPatching.Estimate(new PhiEvaluator(model, forwardOnly, masks, 64), all, new CostLedger());
        for (int c = 0; c < all.Length; c++)
            actual[c].Should().BeApproximately(expected[c], 1e-5 * (1 + Math.Abs(expected[c])), components[c].Id);
    }

    [Fact]
    public void What_needs_the_backward_is_refused_without_gradients()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pair = new IoiTask().Pairs(1, seed: 7)[0];
        var sites = Components.Heads(model.Config).Select(c => c.Site).Distinct().ToList();
        var act = () => PairState.Build(model, pair, sites, null, corruptedGradient: true, new CostLedger(), out _, gradients: false);
        act.Should().Throw<ArgumentException>().WithMessage("*need the backward*");
    }
}

/// <summary>Pairs' states beyond <see cref="AttributionOptions.PairStateBudget"/> are released after AtP and rebuilt by the stages that need them.</summary>
public class PairStateBudgetTests
{
    [Theory]
    [InlineData(0.0, true)]
    [InlineData(2.5, true)]
    [InlineData(0.0, false)]
    public void Pairs_beyond_the_state_budget_are_rebuilt_when_needed_with_the_same_results(double statesKept, bool hvpForAll)
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(6, seed: 3);
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        // Six rows a chunk: one pair (clean, corrupted, four probes) per AtP group, so a budget of 2.5 states keeps two.
        var options = new AttributionOptions { Methods = hvpForAll ? Methods.Patching | Methods.Hvp : Methods.Patching, MaxRowsPerChunk = 6, HutchinsonProbes = 4 };
        var one = PairState.Build(model, pairs[0], [.. components.Select(c => c.Site).Distinct()], null, false, new CostLedger(), out _, recordCleanRun: true);
        long budget = (long)(statesKept * one.Bytes);

        var kept = new AttributionEngine(model, options).Run(pairs, components);
        var rebuilt = new AttributionEngine(model, options with { PairStateBudget = budget }).Run(pairs, components);

        kept.Cost.Should().NotContainKey("rebuild");
        rebuilt.Cost.Should().ContainKey("rebuild");
        // Patching and HVP (or the flag stage's exact curvature) each rebuild a released pair's clean and corrupted rows.
        long released = rebuilt.Cost["rebuild"].Rows / (2 * 2);
        if (statesKept == 0) released.Should().Be(6);
        else released.Should().BeInRange(1, 4, "the budget keeps the first two states (and a later one where its record was left out)");
        rebuilt.Components.Count(c => c.Curvature is not null).Should().Be(kept.Components.Count(c => c.Curvature is not null)).And.BeGreaterThan(0);
        rebuilt.Components.Select(c => c.Flagged).Should().Equal(kept.Components.Select(c => c.Flagged));
        foreach (var (a, b) in kept.Components.Zip(rebuilt.Components))
            foreach (var (x, y, what) in new[] { (a.Patching, b.Patching, "patching"), (a.Hvp, b.Hvp, "hvp"), (a.Curvature, b.Curvature, "curvature"), (a.Estimate, b.Estimate, "estimate"), (a.RTilde, b.RTilde, "R̃") })
                if (x is null) y.Should().BeNull($"{a.Id} {what}");
                else y!.Value.Should().BeApproximately(x.Value, 1e-4 * (1 + Math.Abs(x.Value)), $"{a.Id} {what}");
    }

    [Fact]
    public void A_rebuilt_pair_keeps_the_clean_distribution_KL_compares_with()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(4, seed: 5);
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var options = new AttributionOptions { Metric = MetricKind.KlDivergence, Methods = Methods.Patching };

        var kept = new AttributionEngine(model, options).Run(pairs, components);
        var rebuilt = new AttributionEngine(model, options with { PairStateBudget = 0 }).Run(pairs, components);

        rebuilt.Cost.Should().ContainKey("rebuild");
        // One forward of the clean prompts, shared by the pairs (equally long), whether states were kept or rebuilt.
        foreach (var result in new[] { kept, rebuilt })
            result.Cost["kl.reference"].Rows.Should().Be(pairs.Count, "each pair's clean distribution is computed once");
        foreach (var (a, b) in kept.Components.Zip(rebuilt.Components))
            b.Patching!.Value.Should().BeApproximately(a.Patching!.Value, 1e-5 * (1 + Math.Abs(a.Patching.Value)), a.Id);
    }
}
