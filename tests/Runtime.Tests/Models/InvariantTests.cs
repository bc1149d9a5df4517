using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>Properties every family must have, checked on the synthetic-weight fixtures.</summary>
public class InvariantTests
{
    public static TheoryData<string> Families => Fixtures.Families;

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Patching_every_site_with_its_own_clean_value_leaves_logits_unchanged(string family)
    {
        var model = Fixtures.Load(family);
        var input = ModelInput.Single(Fixtures.Tokens(model, 9, 1));
        using var _ = no_grad();
        var sites = AllSites(model.Config).ToList();
        var cache = new HookPlan(model.Config).Cache(sites);
        var clean = model.Forward(input, cache);

        var patch = new HookPlan(model.Config);
        foreach (var site in sites.Where(s => s.Kind != SiteKind.Logits))
            patch.Add(new Replace(site, cache[site].clone()));
        var patched = model.Forward(input, patch);
        (patched - clean).abs().max().item<float>().Should().BeLessThanOrEqualTo(1e-6f);
        (model.Forward(input) - clean).abs().max().item<float>().Should().BeLessThan(1e-5f, "materialising attn.result only reorders sums");
        var cachedWithoutResults = new HookPlan(model.Config).Cache(sites.Where(s => s.Kind != SiteKind.AttnResult));
        model.Forward(input, cachedWithoutResults).allclose(model.Forward(input), rtol: 0, atol: 0).Should().BeTrue("a cached run equals a plain run bit for bit");
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Per_head_results_plus_bias_sum_to_the_attention_output(string family)
    {
        var model = Fixtures.Load(family);
        var input = ModelInput.Single(Fixtures.Tokens(model, 7, 2));
        using var _ = no_grad();
        var plan = new HookPlan(model.Config);
        for (int l = 0; l < model.Config.Layers; l++)
            plan.Cache(new Site(SiteKind.AttnResult, l), new Site(SiteKind.AttnOut, l));
        var logits = model.Forward(input, plan);
        (logits - model.Forward(input)).abs().max().item<float>().Should().BeLessThan(1e-5f, "materialising per-head results changes nothing");
        if (model.Config.PostNorms) return; // Gemma-2: attn_out is after the post-attention norm, a non-linear map of the sum.
        for (int l = 0; l < model.Config.Layers; l++)
        {
            var bias = model.Layer(l).Attention.Output.Bias;
            var sum = plan[new Site(SiteKind.AttnResult, l)].sum(2);
            if (bias is not null) sum = sum + bias;
            (sum - plan[new Site(SiteKind.AttnOut, l)]).abs().max().item<float>().Should().BeLessThan(1e-5f);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Batched_padded_run_equals_one_by_one(string family)
    {
        var model = Fixtures.Load(family);
        int[][] sequences = [Fixtures.Tokens(model, 9, 3), Fixtures.Tokens(model, 5, 4), Fixtures.Tokens(model, 7, 5)];
        using var _ = no_grad();
        var batched = model.Forward(ModelInput.Batched(sequences));
        for (int b = 0; b < sequences.Length; b++)
        {
            var single = model.Forward(ModelInput.Single(sequences[b]))[0];
            var row = batched[b].narrow(0, 0, sequences[b].Length);
            (row - single).abs().max().item<float>().Should().BeLessThan(5e-5f, $"row {b} (float32 summation order differs with batch shape)");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Selected_logits_equal_the_full_forward_whether_or_not_the_last_layer_runs_one_query(string family)
    {
        var model = Fixtures.Load(family);
        int layers = model.Config.Layers;
        int[][] sequences = [Fixtures.Tokens(model, 9, 6), Fixtures.Tokens(model, 9, 7), Fixtures.Tokens(model, 6, 8)];
        long[] tokens = [3, 5, 8];
        using var _ = no_grad();
        foreach (var input in new[] { ModelInput.Batched(sequences[..2]), ModelInput.Batched(sequences) })
        {
            // Shared last position (the last layer runs that query only) or, padded, one position per row (it runs all).
            var positions = input.LastPositions();
            var full = model.Forward(input);
            var expected = full[arange(input.Batch), positions].index_select(1, tensor(tokens));
            model.ForwardSelected(input, positions, tokens).allclose(expected, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
            // A hook on the last layer keeps it full length; so does starting there from the cached residual.
            var plan = new HookPlan(model.Config).Cache(new Site(SiteKind.MlpOut, layers - 1), new Site(SiteKind.ResidPre, layers - 1));
            model.ForwardSelected(input, positions, tokens, plan).allclose(expected, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
            plan[new Site(SiteKind.MlpOut, layers - 1)].shape[1].Should().Be(input.Positions);
            model.ForwardSelected(input, positions, tokens, start: new CachedStart(layers - 1, plan[new Site(SiteKind.ResidPre, layers - 1)]))
                .allclose(expected, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void A_plan_that_trims_the_last_layer_gives_the_same_metric_and_gradients_and_caches_zeros_where_nothing_ran(string family)
    {
        var model = Fixtures.Load(family);
        var c = model.Config;
        int last = c.Layers - 1, t = 9;
        var input = ModelInput.Single(Fixtures.Tokens(model, t, 3));
        var metric = new AnswerMetric(3, 5);
        var sites = AllSites(c).Where(s => s.Layer == last && s.Kind < SiteKind.Embed).ToList(); // every hook point of the last layer
        (Tensor Metric, Tensor[] Gradients, HookPlan Plan) Run(bool trim)
        {
            var plan = new HookPlan(c) { TrimsLastLayer = trim }.Cache(sites);
            var offsets = sites.Select(s => zeros([1, .. s.Shape(c, t)], dtype: model.DType, requires_grad: true)).ToArray();
            for (int i = 0; i < sites.Count; i++) plan.Add(new AddOffset(sites[i], offsets[i]));
            var m = metric.Measure(model, input, plan);
            return (m.detach(), [.. autograd.grad([m.sum()], offsets, retain_graph: false, allow_unused: true)], plan);
        }
        var (full, trimmed) = (Run(false), Run(true));
        trimmed.Metric.allclose(full.Metric, rtol: 1e-5, atol: 1e-5).Should().BeTrue();
        for (int i = 0; i < sites.Count; i++)
        {
            // Earlier positions after the queries cannot reach the metric: their gradient is zero either way.
            trimmed.Gradients[i].allclose(full.Gradients[i], rtol: 1e-4, atol: 1e-5).Should().BeTrue($"the gradient at {sites[i]}");
            var (cachedFull, cachedTrimmed) = (full.Plan[sites[i]], trimmed.Plan[sites[i]]);
            cachedTrimmed.shape.Should().Equal(cachedFull.shape, sites[i].ToString());
            if (sites[i].Kind is SiteKind.ResidPre or SiteKind.AttnK or SiteKind.AttnV)
            {
                cachedTrimmed.allclose(cachedFull, rtol: 1e-5, atol: 1e-5).Should().BeTrue($"{sites[i]} runs before the queries");
                continue;
            }
            int axis = SiteMask.Axes(sites[i].Kind).Position;
            cachedTrimmed.narrow(axis, t - 1, 1).allclose(cachedFull.narrow(axis, t - 1, 1), rtol: 1e-5, atol: 1e-5).Should().BeTrue($"{sites[i]} at the read position");
            cachedTrimmed.narrow(axis, 0, t - 1).abs().max().item<float>().Should().Be(0, $"{sites[i]} before the read position");
        }
    }

    [SkippableFact]
    public void A_cached_start_at_a_later_position_that_cannot_be_honoured_is_a_clear_error()
    {
        var model = Fixtures.Load("gpt2");
        int layers = model.Config.Layers;
        var tokens = Fixtures.Tokens(model, 9, 1);
        var input = ModelInput.Single(tokens);
        var plan = new HookPlan(model.Config).Cache(Enumerable.Range(0, layers).SelectMany(l => new[] { new Site(SiteKind.AttnK, l), new Site(SiteKind.AttnV, l) }))
            .Cache(new Site(SiteKind.ResidPre, 1));
        using var _ = no_grad();
        model.Forward(input, plan);
        var keys = Enumerable.Range(0, layers).Select(l => plan[new Site(SiteKind.AttnK, l)]).ToList();
        var values = Enumerable.Range(0, layers).Select(l => plan[new Site(SiteKind.AttnV, l)]).ToList();
        var resid = plan[new Site(SiteKind.ResidPre, 1)];
        var last = input.LastPositions();
        FluentActions.Invoking(() => model.ForwardSelected(input, last, [1], start: new CachedStart(1, resid, 4)))
            .Should().Throw<ArgumentException>().WithMessage("*keys and values of all*");
        FluentActions.Invoking(() => model.ForwardSelected(input, last, [1], start: new CachedStart(1, resid, 12, keys, values)))
            .Should().Throw<ArgumentException>().WithMessage("*outside the prompt*");
        FluentActions.Invoking(() => model.ForwardSelected(input, tensor(new long[] { 2 }), [1], start: new CachedStart(1, resid, 4, keys, values)))
            .Should().Throw<ArgumentException>().WithMessage("*come before*");
        var padded = ModelInput.Batched([tokens, tokens[..5]]);
        FluentActions.Invoking(() => model.ForwardSelected(padded, padded.LastPositions(), [1], start: new CachedStart(1, resid, 4, keys, values)))
            .Should().Throw<ArgumentException>().WithMessage("*unpadded*");
        // Honoured: equal to the full forward.
        var expected = model.Forward(input)[0, 8, 1];
        model.ForwardSelected(input, last, [1], start: new CachedStart(1, resid, 4, keys, values))[0, 0].item<float>()
            .Should().BeApproximately(expected.item<float>(), 1e-4f);
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Second_derivative_through_the_model_matches_a_finite_difference_of_first_derivatives(string family)
    {
        var model = Fixtures.Load(family, ScalarType.Float64);
        var input = ModelInput.Single(Fixtures.Tokens(model, 8, 6));
        var site = new Site(SiteKind.AttnZ, 0);
        var delta = randn([1, 8, model.Config.Heads, model.Config.HeadDim], dtype: ScalarType.Float64, generator: new Generator(7)) * 0.5;

        (double first, double second) Derivatives(double at)
        {
            var t = tensor(at, dtype: ScalarType.Float64, requires_grad: true);
            var logits = model.Forward(input, new HookPlan(model.Config).Add(new AddOffset(site, t * delta)));
            var metric = logits[0, -1, 3] - logits[0, -1, 5];
            var d1 = autograd.grad([metric], [t], retain_graph: true, create_graph: true)[0];
            var d2 = autograd.grad([d1], [t], retain_graph: false)[0];
            return (d1.item<double>(), d2.item<double>());
        }

        const double h = 1e-4;
        var (_, second) = Derivatives(0);
        double finite = (Derivatives(h).first - Derivatives(-h).first) / (2 * h);
        double.IsFinite(second).Should().BeTrue();
        Math.Abs(second - finite).Should().BeLessThanOrEqualTo(1e-3 * Math.Max(Math.Abs(finite), 1e-6), $"φ″ = {second}, finite difference {finite}");
    }

    public static IEnumerable<Site> AllSites(ModelConfig c)
    {
        yield return new Site(SiteKind.Embed);
        for (int l = 0; l < c.Layers; l++)
            foreach (SiteKind kind in Enum.GetValues<SiteKind>().Where(k => k < SiteKind.Embed))
                if (!(kind == SiteKind.ResidMid && c.ParallelResidual))
                    yield return new Site(kind, l);
        yield return new Site(SiteKind.FinalNorm);
        yield return new Site(SiteKind.Logits);
    }
}
