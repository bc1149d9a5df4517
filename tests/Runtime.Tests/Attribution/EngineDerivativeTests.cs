using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>
/// The batched derivatives are right on real architectures: φ″ (Taylor-mode jets by default) against finite
/// differences of φ′ and against the double backward at several t; batching against one component at a time; φ′(0)
/// against AtP's all-at-once gradient. Models load in float64 so the finite differences are meaningful.
/// </summary>
public class EngineDerivativeTests
{
    public static TheoryData<string> Models => new() { "gpt2", "gpt-neox", "llama", "qwen2", "gemma2", "stories260K" };

    /// <summary>Every model of <see cref="Models"/> with each of <paramref name="metrics"/>.</summary>
    internal static TheoryData<string, MetricKind> ModelsWith(params MetricKind[] metrics)
    {
        var data = new TheoryData<string, MetricKind>();
        foreach (var name in Models) foreach (var metric in metrics) data.Add(name, metric);
        return data;
    }

    private static HookedTransformer Load(string name) => name == "stories260K"
        ? ModelLoader.Load(SharedData.Require("models", "stories260K", "stories260K.bin"), dtype: ScalarType.Float64)
        : Fixtures.Load(name, ScalarType.Float64);

    /// <summary>A model in float64, a pair differing at positions 2 and 5, components of every kind, and the pair's
    /// state measured by <paramref name="metric"/> (of the token sets {3, 4, 7} against {5, 6} with <paramref name="sets"/>,
    /// else of token 3 against 5).</summary>
    internal static (HookedTransformer, PairState, ComponentMasks, PromptPair) Setup(string name, MetricKind metric = MetricKind.LogitDifference, bool sets = false)
    {
        var model = Load(name);
        var c = model.Config;
        var clean = Fixtures.Tokens(model, 9, 1);
        var corrupted = clean.ToArray();
        corrupted[2] = (corrupted[2] + 7) % c.VocabSize;
        corrupted[5] = (corrupted[5] + 3) % c.VocabSize;
        IReadOnlyList<Component> components =
            [.. Components.Heads(c), .. Components.Mlps(c), new Component(ComponentKind.Neuron, 0, 3), new Component(ComponentKind.Residual, 1, 4),
             new Component(ComponentKind.Query, 0, 1), new Component(ComponentKind.Key, c.Layers - 1, 0), new Component(ComponentKind.Head, 0, 1, Position: 5)];
        var pair = sets ? PromptPair.WithSets(clean, corrupted, [3, 4, 7], [5, 6]) : new PromptPair(clean, corrupted, 3, 5);
        var state = PairState.Build(model, pair, [.. components.Select(x => x.Site).Distinct()], null, false, new CostLedger(), out _, metric: metric);
        return (model, state, new ComponentMasks(components, c, clean.Length, model.Device), pair);
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Second_derivative_from_batched_double_backward_matches_central_finite_difference(string name)
    {
        var (model, state, masks, _) = Setup(name);
        var components = masks.Components;
        var phi = new PhiEvaluator(model, state, masks, maxRows: 64);
        var all = Enumerable.Range(0, components.Count).ToArray();
        const double h = 1.0 / 1024;
        var at0 = phi.Evaluate([.. all.Select(c => new PhiRow(c, 0))], 2, new CostLedger(), "test");
        var plus = phi.Evaluate([.. all.Select(c => new PhiRow(c, h))], 1, new CostLedger(), "test");
        var minus = phi.Evaluate([.. all.Select(c => new PhiRow(c, -h))], 1, new CostLedger(), "test");
        double scale = at0.Second.Max(Math.Abs);
        scale.Should().BeGreaterThan(0, "some component has curvature");
        for (int c = 0; c < all.Length; c++)
        {
            double finite = (plus.First[c] - minus.First[c]) / (2 * h);
            at0.Second[c].Should().BeApproximately(finite, 1e-3 * Math.Max(Math.Abs(finite), 1e-3 * scale), components[c].Id);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Replica_batching_equals_one_component_at_a_time_and_atp_equals_phi_prime_at_zero(string name)
    {
        var (model, state, masks, _) = Setup(name);
        var components = masks.Components;
        var rows = Enumerable.Range(0, components.Count).Select(c => new PhiRow(c, 0)).ToArray();
        var batched = new PhiEvaluator(model, state, masks, maxRows: 64).Evaluate(rows, 2, new CostLedger(), "test");
        var single = new PhiEvaluator(model, state, masks, maxRows: 1).Evaluate(rows, 2, new CostLedger(), "test");
        var atp = AttributionPatching.Atp(masks, state);
        for (int c = 0; c < components.Count; c++)
        {
            batched.Second[c].Should().BeApproximately(single.Second[c], 1e-9 * (1 + Math.Abs(single.Second[c])), components[c].Id);
            batched.First[c].Should().BeApproximately(single.First[c], 1e-9 * (1 + Math.Abs(single.First[c])), components[c].Id);
            atp[c].Should().BeApproximately(batched.First[c], 1e-9 * (1 + Math.Abs(atp[c])), components[c].Id);
            batched.Phi[c].Should().BeApproximately(state.CleanMetric, 1e-6, "φ(0) is the clean metric");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Taylor_mode_jets_equal_the_double_backward_at_zero_and_along_the_patch(string name)
    {
        var (model, state, masks, _) = Setup(name);
        var components = masks.Components;
        var rows = Enumerable.Range(0, components.Count).SelectMany(c => new[] { 0.0, 0.4, 1.0 }.Select(t => new PhiRow(c, t))).ToArray();
        CostLedger jetCost = new(), referenceCost = new();
        var jets = new PhiEvaluator(model, state, masks, maxRows: 16).Evaluate(rows, 2, jetCost, "test");
        var reference = new PhiEvaluator(model, state, masks, maxRows: 16, secondDerivative: SecondDerivative.DoubleBackward).Evaluate(rows, 2, referenceCost, "test");
        jetCost.ByMethod["test"].Backwards.Should().Be(0, "jets need no backward");
        referenceCost.ByMethod["test"].Backwards.Should().BeGreaterThan(0);
        ShouldMatch(jets, reference, rows, components, "");
    }

    // φ and φ′ to 1e-9, φ″ to 1e-8 (relative, plus an absolute floor), row by row.
    private static void ShouldMatch(PhiValues actual, PhiValues expected, PhiRow[] rows, IReadOnlyList<Component> components, string how)
    {
        for (int i = 0; i < rows.Length; i++)
        {
            string because = $"{components[rows[i].Component].Id} at t = {rows[i].T}{how}";
            actual.Phi[i].Should().BeApproximately(expected.Phi[i], 1e-9 * (1 + Math.Abs(expected.Phi[i])), because);
            actual.First[i].Should().BeApproximately(expected.First[i], 1e-9 * (1 + Math.Abs(expected.First[i])), because);
            actual.Second[i].Should().BeApproximately(expected.Second[i], 1e-8 * (1 + Math.Abs(expected.Second[i])), because);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Rows_resumed_at_their_first_position_from_the_cache_equal_full_forwards(string name)
    {
        var (model, state, _, _) = Setup(name);
        var c = model.Config;
        int last = c.Layers - 1;
        state.FirstDifference.Should().Be(2, "the prompts first differ at position 2");
        // Whole-site components, and one before the first difference, resume there: δ is zero earlier.
        IReadOnlyList<Component> components =
            [new(ComponentKind.Head, 0, 1, Position: 3), new(ComponentKind.Head, last, 0, Position: 8), new(ComponentKind.Residual, 1, 6),
             new(ComponentKind.Mlp, 0, 0, Position: 2), new(ComponentKind.Neuron, 0, 3, Position: 5), new(ComponentKind.Key, last, 0, Position: 4),
             new(ComponentKind.Query, 0, 1, Position: 7), new(ComponentKind.Head, 0, 0), new(ComponentKind.Mlp, last, 0),
             new(ComponentKind.Key, last, 0), new(ComponentKind.Head, 0, 2, Position: 1)];
        using var masks = new ComponentMasks(components, c, 9, model.Device);
        var rows = Enumerable.Range(0, components.Count).SelectMany(i => new[] { 0.0, 0.5, 1.0 }.Select(t => new PhiRow(i, t))).ToArray();
        // One row per chunk, so each resumes at its own layer and position, earlier keys and values from the cache.
        foreach (var method in new[] { SecondDerivative.TaylorMode, SecondDerivative.DoubleBackward })
        {
            var resumed = new PhiEvaluator(model, state, masks, maxRows: 1, secondDerivative: method).Evaluate(rows, 2, new CostLedger(), "test");
            var full = new PhiEvaluator(model, state, masks, maxRows: 1, fromCache: false, secondDerivative: method).Evaluate(rows, 2, new CostLedger(), "test");
            ShouldMatch(resumed, full, rows, components, $" ({method})");
            var patched = new PhiEvaluator(model, state, masks, maxRows: 1).Evaluate(rows, 0, new CostLedger(), "test");
            for (int i = 0; i < rows.Length; i++)
                patched.Phi[i].Should().BeApproximately(full.Phi[i], 1e-9 * (1 + Math.Abs(full.Phi[i])), components[rows[i].Component].Id);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Hutchinson_screen_of_one_component_is_its_exact_curvature_up_to_the_finite_difference(string name)
    {
        // With one component s² = 1 removes the sampling noise; what is left is the finite difference's O(ε) error.
        var (model, state, masks, _) = Setup(name);
        var components = masks.Components;
        var all = Enumerable.Range(0, components.Count).ToArray();
        var exact = HessianVectorCorrection.Estimate(new PhiEvaluator(model, state, masks, maxRows: 64), all, new CostLedger()).Quadratic;
        double scale = exact.Max(Math.Abs);
        foreach (int c in all)
        {
            using var one = new ComponentMasks([components[c]], model.Config, masks.Positions, model.Device);
            // Three probes over chunks of two rows: the reference row is repeated per chunk.
            var cost = new CostLedger();
            double screened = new HutchinsonProbes(one, count: 3, seed: c).Curvature(model, state, maxRows: 2, cost)[0];
            screened.Should().BeApproximately(exact[c], 5e-2 * Math.Max(Math.Abs(exact[c]), 1e-3 * scale), components[c].Id);
            cost.ByMethod["screen.hutchinson"].Backwards.Should().Be(3, "one plain backward per chunk, no double backward");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Hutchinson_probes_in_atp_pass_equal_probes_in_a_pass_of_their_own(string name)
    {
        var (model, state, masks, pair) = Setup(name);
        var probes = new HutchinsonProbes(masks, count: 4, seed: 9);
        var cost = new CostLedger();
        var fused = PairState.Build(model, pair, [.. masks.Components.Select(x => x.Site).Distinct()], null, false, cost, out _, probes);
        var own = probes.Curvature(model, state, maxRows: 64, new CostLedger());
        fused.HutchinsonCurvature.Should().NotBeNull();
        double scale = own.Max(Math.Abs);
        for (int c = 0; c < own.Length; c++)
            fused.HutchinsonCurvature![c].Should().BeApproximately(own[c], 1e-6 * scale, masks.Components[c].Id);
        fused.CleanMetric.Should().BeApproximately(state.CleanMetric, 1e-9, "the probes leave the clean row alone");
        fused.CorruptedMetric.Should().BeApproximately(state.CorruptedMetric, 1e-9);
        cost.ByMethod["atp"].Should().Be(cost.ByMethod["atp"] with { Forwards = 1, Backwards = 0, Rows = 1 }, "the corrupted prompt's forward goes first");
        cost.ByMethod["atp + screen.hutchinson"].Should().Be(cost.ByMethod["atp + screen.hutchinson"] with { Forwards = 1, Backwards = 1, Rows = 5 },
            "clean and four probes in one pass");
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Atp_is_the_same_from_one_two_row_pass_as_from_two_passes(string name)
    {
        var (model, _, masks, pair) = Setup(name);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        CostLedger one = new(), two = new();
        var batched = PairState.Build(model, pair, sites, null, false, one, out _, batched: true);
        var separate = PairState.Build(model, pair, sites, null, false, two, out _, batched: false);
        var (a, b) = (AttributionPatching.Atp(masks, batched), AttributionPatching.Atp(masks, separate));
        double scale = b.Max(Math.Abs);
        for (int c = 0; c < a.Length; c++) a[c].Should().BeApproximately(b[c], 1e-9 * scale, masks.Components[c].Id);
        batched.CorruptedMetric.Should().BeApproximately(separate.CorruptedMetric, 1e-9);
        batched.CorruptedGradient.Should().BeEmpty("nobody asked for g′");
        (one.ByMethod["atp"].Forwards, two.ByMethod["atp"].Forwards).Should().Be((1, 2));
        var byDefault = new CostLedger();
        PairState.Build(model, pair, sites, null, false, byDefault, out _);
        byDefault.ByMethod["atp"].Forwards.Should().Be(1, "one pair without probes runs its two rows in one pass");
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Pairs_sharing_passes_each_get_what_a_pass_of_their_own_gives(string name)
    {
        var (model, _, masks, first) = Setup(name);
        var c = model.Config;
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        var pairs = ThreePairs(first, c.VocabSize);
        foreach (bool joint in new[] { false, true })
        {
            var probes = joint ? pairs.Select((_, i) => new HutchinsonProbes(masks, count: 2, seed: i)).ToArray() : null;
            var cost = new CostLedger();
            var shared = PairState.BuildMany(model, pairs, sites, BackwardModification.Gim, corruptedGradient: joint, cost, out var sharedGim, probes);
            cost.ByMethod.Values.Sum(x => x.Forwards).Should().Be(joint ? 2 : 3, "the pairs share each pass");
            for (int i = 0; i < pairs.Length; i++)
            {
                var own = PairState.Build(model, pairs[i], sites, BackwardModification.Gim, joint, new CostLedger(), out var ownGim, probes?[i]);
                shared[i].CleanMetric.Should().BeApproximately(own.CleanMetric, 1e-9);
                shared[i].CorruptedMetric.Should().BeApproximately(own.CorruptedMetric, 1e-9);
                Close(masks, AttributionPatching.Atp(masks, shared[i]), AttributionPatching.Atp(masks, own), $"AtP, pair {i}");
                Close(masks, AttributionPatching.Dot(masks, shared[i], sharedGim![i]!), AttributionPatching.Dot(masks, own, ownGim!), $"GIM, pair {i}");
                for (int l = 0; l < c.Layers; l++)
                    shared[i].ResidPre[l].allclose(own.ResidPre[l], rtol: 1e-9, atol: 1e-9).Should().BeTrue($"the clean cache of pair {i} at layer {l}");
                if (!joint) continue;
                Close(masks, AttributionPatching.GradientDifferenceCurvature(masks, shared[i]), AttributionPatching.GradientDifferenceCurvature(masks, own), $"g′ screen, pair {i}");
                Close(masks, shared[i].HutchinsonCurvature!, own.HutchinsonCurvature!, $"Hutchinson screen, pair {i}");
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Rows_of_several_pairs_in_shared_chunks_equal_each_pair_evaluated_alone(string name)
    {
        var (model, _, masks, first) = Setup(name);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        var states = PairState.BuildMany(model, ThreePairs(first, model.Config.VocabSize), sites, null, false, new CostLedger(), out _);
        var all = Enumerable.Range(0, masks.Components.Count).ToArray();
        // Chunks of two rows mix pairs and resume at later positions (the per-position head); 64 rows hold them all, and
        // there jets keep one value row per pair.
        foreach (int maxRows in new[] { 2, 64 })
            foreach (var method in new[] { SecondDerivative.TaylorMode, SecondDerivative.DoubleBackward })
                foreach (var (t, order) in new[] { (0.0, 2), (1.0, 0) })
                {
                    var shared = new PhiEvaluator(model, states, masks, maxRows, secondDerivative: method).EvaluateEach(all, t, order, new CostLedger(), "test");
                    for (int j = 0; j < states.Length; j++)
                    {
                        var own = new PhiEvaluator(model, states[j], masks, maxRows, secondDerivative: method).Evaluate([.. all.Select(c => new PhiRow(c, t))], order, new CostLedger(), "test");
                        var values = order == 0 ? (shared[j].Phi, own.Phi) : (shared[j].Second, own.Second);
                        double scale = values.Item2.Max(Math.Abs);
                        for (int c = 0; c < all.Length; c++)
                            values.Item1[c].Should().BeApproximately(values.Item2[c], 1e-9 * Math.Max(scale, 1), $"pair {j}, {masks.Components[c].Id}, {maxRows} rows, {method}, order {order}");
                    }
                }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Passes_that_run_the_shared_prefix_apart_give_what_full_passes_give(string name)
    {
        var (model, _, masks, first) = Setup(name);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        var pairs = ThreePairs(first, model.Config.VocabSize); // first differences at 2, 1 and 4: the prefix is 1 token
        // Without g′ the corrupted prompts run first and their cache starts the other rows (with probes or without); with
        // g′ every row shares one pass, the prefix run apart.
        foreach (var (joint, withProbes) in new[] { (false, false), (false, true), (true, true) })
        {
            PairState[] Build(bool prefix, out Dictionary<Site, Tensor>?[]? gim) => PairState.BuildMany(model, pairs, sites, BackwardModification.Gim, joint,
                new CostLedger(), out gim, withProbes ? [.. pairs.Select((_, i) => new HutchinsonProbes(masks, count: 2, seed: i))] : null, sharedPrefix: prefix);
            var (apart, full) = (Build(true, out var apartGim), Build(false, out var fullGim));
            for (int i = 0; i < pairs.Length; i++)
            {
                apart[i].CleanMetric.Should().BeApproximately(full[i].CleanMetric, 1e-9);
                apart[i].CorruptedMetric.Should().BeApproximately(full[i].CorruptedMetric, 1e-9);
                Close(masks, AttributionPatching.Atp(masks, apart[i]), AttributionPatching.Atp(masks, full[i]), $"AtP, pair {i}");
                Close(masks, AttributionPatching.Dot(masks, apart[i], apartGim![i]!), AttributionPatching.Dot(masks, full[i], fullGim![i]!), $"GIM, pair {i}");
                for (int l = 0; l < model.Config.Layers; l++)
                    foreach (var (a, b) in new[] { (apart[i].ResidPre[l], full[i].ResidPre[l]), (apart[i].CleanKeys[l], full[i].CleanKeys[l]), (apart[i].CleanValues[l], full[i].CleanValues[l]) })
                        a.allclose(b, rtol: 1e-9, atol: 1e-9).Should().BeTrue($"the clean cache of pair {i} at layer {l}");
                if (withProbes) Close(masks, apart[i].HutchinsonCurvature!, full[i].HutchinsonCurvature!, $"Hutchinson screen, pair {i}");
                if (joint)
                    Close(masks, AttributionPatching.GradientDifferenceCurvature(masks, apart[i]), AttributionPatching.GradientDifferenceCurvature(masks, full[i]), $"g′ screen, pair {i}");
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void The_engine_over_pairs_that_share_passes_averages_what_it_gives_each_pair_alone(string name)
    {
        var (model, _, masks, first) = Setup(name);
        var pairs = ThreePairs(first, model.Config.VocabSize);
        // Patching every component: a chunk of pairs' rows; the Hutchinson screen rides in the shared AtP pass.
        var options = new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Atp | Methods.Patching, ExtraScreens = [CurvatureScreen.Hutchinson] };
        var together = new AttributionEngine(model, options).Run(pairs, masks.Components);
        var alone = pairs.Select(p => new AttributionEngine(model, options).Run([p], masks.Components)).ToArray();
        double[] Mean(Func<ComponentEstimate, double> value) =>
            [.. Enumerable.Range(0, masks.Components.Count).Select(c => alone.Average(r => value(r.Components[c])))];
        Close(masks, [.. together.Components.Select(x => x.Atp)], Mean(x => x.Atp), "AtP");
        Close(masks, [.. together.Components.Select(x => x.Patching!.Value)], Mean(x => x.Patching!.Value), "patching");
    }

    // Per component, actual ≈ expected relative to the largest |expected|.
    private static void Close(ComponentMasks masks, double[] actual, double[] expected, string what)
    {
        double scale = expected.Max(Math.Abs);
        for (int k = 0; k < actual.Length; k++) actual[k].Should().BeApproximately(expected[k], 1e-8 * scale, $"{what}, {masks.Components[k].Id}");
    }

    // Three pairs of one length with their own corruptions and answer tokens.
    private static PromptPair[] ThreePairs(PromptPair first, int vocabulary) =>
        [first, .. new[] { 1, 4 }.Select(at =>
        {
            var corrupted = first.Clean.ToArray();
            corrupted[at] = (corrupted[at] + 11) % vocabulary;
            return new PromptPair(first.Clean, corrupted, at + 1, at + 2);
        })];

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void A_pair_that_differs_only_in_its_last_token_resumes_there_and_equals_full_passes(string name)
    {
        var (model, _, masks, first) = Setup(name);
        Site[] sites = [.. masks.Components.Select(x => x.Site).Distinct()];
        int last = first.Clean.Count - 1;
        int[] corrupted = [.. first.Clean];
        corrupted[last] = (corrupted[last] + 5) % model.Config.VocabSize;
        var pair = first with { Corrupted = corrupted };
        pair.FirstDifference.Should().Be(last);
        var probes = new[] { new HutchinsonProbes(masks, count: 2, seed: 3) };
        var (apart, full) = (PairState.BuildMany(model, [pair], sites, null, true, new CostLedger(), out _, probes, sharedPrefix: true)[0],
            PairState.BuildMany(model, [pair], sites, null, true, new CostLedger(), out _, probes, sharedPrefix: false)[0]);
        Close(masks, AttributionPatching.Atp(masks, apart), AttributionPatching.Atp(masks, full), "AtP");
        Close(masks, apart.HutchinsonCurvature!, full.HutchinsonCurvature!, "Hutchinson screen");
        var rows = Enumerable.Range(0, masks.Components.Count).Select(c => new PhiRow(c, 1)).ToArray();
        var resumed = new PhiEvaluator(model, apart, masks, maxRows: 64).Evaluate(rows, 0, new CostLedger(), "test");
        var fromScratch = new PhiEvaluator(model, full, masks, maxRows: 64, fromCache: false).Evaluate(rows, 0, new CostLedger(), "test");
        Close(masks, resumed.Phi, fromScratch.Phi, "patched φ(1)");
    }

    [SkippableFact]
    public void Pairs_of_different_lengths_cannot_share_passes_on_synthetic_gpt2()
    {
        var model = Fixtures.Load("gpt2", ScalarType.Float64);
        var sites = new[] { new Site(SiteKind.AttnZ, 0) };
        var act = () => PairState.BuildMany(model, [new PromptPair([1, 2, 3], [1, 2, 4], 5, 6), new PromptPair([1, 2], [1, 3], 5, 6)], sites, null, false, new CostLedger(), out _);
        act.Should().Throw<ArgumentException>().WithMessage("*equally long*");
    }
}
