using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>
/// Jets at t = 0 from the clean run's record (values from its linear outputs, ẍ retired at every non-linear operation
/// against its adjoints) equal the jets that compute their value and carry ẍ through the weights, and the double
/// backward: five families (synthetic weights) and stories260K,
/// float64, every kind of component, one pair and pairs sharing chunks, whole passes and passes that ran a shared
/// prefix apart, the logit difference and the probability metrics.
/// </summary>
public class CleanRunRecordTests
{
    public static TheoryData<string, MetricKind> ModelsAndMetrics() => EngineDerivativeTests.ModelsWith(MetricKind.LogitDifference, MetricKind.ProbabilityDifference, MetricKind.KlDivergence);

    [SkippableTheory]
    [MemberData(nameof(ModelsAndMetrics))]
    public void Second_derivatives_from_adjoints_equal_full_jets_and_the_double_backward(string name, MetricKind metric)
    {
        var (model, _, masks, pair) = EngineDerivativeTests.Setup(name, metric);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        var all = Enumerable.Range(0, masks.Components.Count).ToArray();
        var rows = all.Select(c => new PhiRow(c, 0)).ToArray();
        var plain = PairState.Build(model, pair, sites, null, false, new CostLedger(), out _, metric: metric);
        var captured = PairState.Build(model, pair, sites, null, false, new CostLedger(), out _, metric: metric, recordCleanRun: true);
        captured.CleanRecord.Should().NotBeNull();
        plain.CleanRecord.Should().BeNull();

        foreach (int maxRows in new[] { 1, 64 })
        {
            var fromAdjoints = new PhiEvaluator(model, captured, masks, maxRows).Evaluate(rows, 2, new CostLedger(), "test");
            var full = new PhiEvaluator(model, plain, masks, maxRows).Evaluate(rows, 2, new CostLedger(), "test");
            var reference = new PhiEvaluator(model, plain, masks, maxRows, secondDerivative: SecondDerivative.DoubleBackward).Evaluate(rows, 2, new CostLedger(), "test");
            double scale = full.Second.Max(Math.Abs);
            scale.Should().BeGreaterThan(0);
            foreach (int c in all)
            {
                string because = $"{masks.Components[c].Id}, {maxRows} rows per chunk";
                fromAdjoints.Second[c].Should().BeApproximately(full.Second[c], 1e-9 * Math.Max(scale, 1), because);
                fromAdjoints.Second[c].Should().BeApproximately(reference.Second[c], 1e-8 * Math.Max(scale, 1), because);
                fromAdjoints.First[c].Should().BeApproximately(full.First[c], 1e-12 * (1 + Math.Abs(full.First[c])), because);
                fromAdjoints.Phi[c].Should().BeApproximately(full.Phi[c], 1e-12 * (1 + Math.Abs(full.Phi[c])), because);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(ModelsAndMetrics))]
    public void Pairs_sharing_chunks_and_passes_that_ran_a_prefix_apart_retire_against_their_own_adjoints(string name, MetricKind metric)
    {
        var (model, _, masks, first) = EngineDerivativeTests.Setup(name, metric);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        PromptPair[] pairs = [first, .. new[] { 1, 4 }.Select(at =>
        {
            var corrupted = first.Clean.ToArray();
            corrupted[at] = (corrupted[at] + 11) % model.Config.VocabSize;
            return new PromptPair(first.Clean, corrupted, at + 1, at + 2);
        })];
        var all = Enumerable.Range(0, masks.Components.Count).ToArray();
        var plain = PairState.BuildMany(model, pairs, sites, null, false, new CostLedger(), out _, metric: metric);
        foreach (bool prefix in new[] { false, true })
        {
            var captured = PairState.BuildMany(model, pairs, sites, null, false, new CostLedger(), out _, sharedPrefix: prefix, metric: metric, recordCleanRun: true);
            foreach (int maxRows in new[] { 2, 64 })
            {
                var together = new PhiEvaluator(model, captured, masks, maxRows).EvaluateEach(all, 0, 2, new CostLedger(), "test");
                var full = new PhiEvaluator(model, plain, masks, maxRows).EvaluateEach(all, 0, 2, new CostLedger(), "test");
                for (int j = 0; j < pairs.Length; j++)
                {
                    double scale = full[j].Second.Max(Math.Abs);
                    foreach (int c in all)
                        together[j].Second[c].Should().BeApproximately(full[j].Second[c], 1e-9 * Math.Max(scale, 1),
                            $"pair {j}, {masks.Components[c].Id}, {maxRows} rows, prefix apart: {prefix}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("gpt2", 5, 2, 6)]      // layer 0 after z: its MLP's norm and activation
    [InlineData("gpt-neox", 5, 0, 6)]  // parallel residuals: layer 0's MLP does not read its attention
    [InlineData("gemma2", 7, 4, 7)]    // and the post-attention and post-MLP norms; a gated MLP
    public void A_jet_forward_at_zero_takes_every_linear_output_and_retires_at_every_non_linear_operation_after_the_patch(
        string name, int pointsPerLayer, int inFirstLayer, int linearMapsPerLayer)
    {
        var (model, _, masks, pair) = EngineDerivativeTests.Setup(name);
        var site = new Site(SiteKind.AttnZ, 0);
        var state = PairState.Build(model, pair, [site], null, false, new CostLedger(), out _, recordCleanRun: true);
        var record = CleanRunRecord.ForJets([state.CleanRecord!]);
        // From the first difference, where the recorded pass resumed (the positions before it ran in the corrupted prompt's pass).
        int from = pair.FirstDifference, axis = SiteMask.Axes(site.Kind).Position;
        var jets = new JetPlan(model.Config) { CleanRecord = record }.Add(site, state.Delta[site].narrow(axis, from, pair.Clean.Count - from), null);
        long position = pair.Clean.Count - 1;
        var logits = model.ForwardSelected(state.Clean, state.Resume(0, from, 1), jets, position, [pair.Answer, pair.Wrong]);
        logits.First.Should().NotBeNull();
        record.Retired.Should().NotBeNull();
        // Layer 0 after the patched z (z itself has no ẍ: nothing before it moved), every later layer at every point.
        record.Retirements.Should().Be(pointsPerLayer * (model.Config.Layers - 1) + inFirstLayer, "ẍ is retired wherever it appears");
        // Every layer's value from the record, the last one's too: it computes the read position's query alone, as the recorded pass did.
        record.OutputsTaken.Should().Be(linearMapsPerLayer * model.Config.Layers, "no value needs the weights at t = 0");
    }

    [Fact]
    public void A_budget_admits_groups_by_the_largest_record_seen_and_refuses_a_group_that_went_over()
    {
        var budget = new MemoryBudget(100);
        budget.Admits(2).Should().BeTrue("nothing measured yet");
        budget.Keep([30, 30]).Should().BeTrue();
        budget.Admits(2).Should().BeFalse("60 + 2 × 30 > 100");
        budget.Admits(1).Should().BeTrue();
        budget.Keep([30]).Should().BeTrue();
        budget.Used.Should().Be(90);

        var small = new MemoryBudget(50);
        small.Keep([30, 30]).Should().BeFalse("the caller drops the group's records");
        small.Used.Should().Be(0);
        small.Admits(1).Should().BeTrue();
        new MemoryBudget(0).Admits(1).Should().BeFalse("a budget of 0 records nothing");
    }

    [SkippableFact]
    public void Pairs_beyond_the_record_budget_get_the_same_results_from_jets_that_compute_their_values()
    {
        var (model, state, masks, first) = EngineDerivativeTests.Setup("gpt2");
        PromptPair[] pairs = [first, .. new[] { 1, 3, 6 }.Select(at =>
        {
            var corrupted = first.Clean.ToArray();
            corrupted[at] = (corrupted[at] + 5) % model.Config.VocabSize;
            return new PromptPair(first.Clean, corrupted, first.Answer, first.Wrong);
        })];
        var recorded = PairState.Build(model, first, [.. masks.Components.Select(x => x.Site).Distinct()], null, false, new CostLedger(), out _, recordCleanRun: true);
        long perPair = recorded.CleanRecord!.Bytes;
        perPair.Should().BePositive();
        // Two pairs per group (2 + 4 probes = 6 rows each, 12 per chunk): the middle budget records the first group only.
        AttributionResult Run(long budget) => new AttributionEngine(model, new AttributionOptions
        {
            Methods = Methods.Hvp, MaxRowsPerChunk = 12, HutchinsonProbes = 4, CleanRecordBudget = budget,
        }).Run(pairs, masks.Components);
        var all = Run(2L << 30);
        foreach (long budget in new[] { 0, 2 * perPair + perPair / 2 })
        {
            var limited = Run(budget);
            for (int c = 0; c < all.Components.Count; c++)
            {
                var (a, b) = (all.Components[c], limited.Components[c]);
                b.Curvature!.Value.Should().BeApproximately(a.Curvature!.Value, 1e-9 * (1 + Math.Abs(a.Curvature.Value)), $"{a.Id}, budget {budget}");
                (b.Estimate, b.Flagged).Should().Be((a.Estimate, a.Flagged), $"{a.Id}, budget {budget}");
            }
        }
    }
}
