using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>q splits into the component's own (softmax) curvature and downstream curvature (synthetic-weight fixtures).</summary>
public class CurvatureDiagnosisTests
{
    [SkippableTheory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Local_curvature_of_query_and_key_inputs_is_the_softmax_term_and_outputs_have_none(string family)
    {
        var model = Fixtures.Load(family, ScalarType.Float64);
        var clean = Fixtures.Tokens(model, 8, 2);
        var corrupted = clean.ToArray();
        corrupted[1] = (corrupted[1] + 5) % model.Config.VocabSize;
        corrupted[6] = (corrupted[6] + 9) % model.Config.VocabSize;
        var pair = new PromptPair(clean, corrupted, 3, 5);
        Component[] components = [new(ComponentKind.Query, 1, 1), new(ComponentKind.Key, 1, 0), new(ComponentKind.Head, 0, 2), new(ComponentKind.Mlp, 0)];
        var result = new AttributionEngine(model, new AttributionOptions { Screen = CurvatureScreen.Exact, Tau = 0.99 }).Run([pair], components);

        result.Component("L0H2").LocalCurvature.Should().Be(0);
        result.Component("L0MLP").LocalCurvature.Should().Be(0);
        foreach (var id in new[] { "L1H1Q", "L1H0K" })
        {
            var e = result.Component(id);
            e.LocalShare.Should().BeInRange(0, 1);
            // Independent check: ½ d²/dt² of Σ G ⊙ pattern(t) by central finite differences, G = ∂M/∂pattern at t = 0.
            e.LocalCurvature!.Value.Should().BeApproximately(FiniteDifference(model, pair, e.Component), 1e-4 * (1 + Math.Abs(e.LocalCurvature.Value)), id);
        }
    }

    [SkippableFact]
    public void QK_fix_recomputes_the_softmax_exactly_and_linearises_only_downstream()
    {
        var model = Fixtures.Load("llama", ScalarType.Float64);
        var clean = Fixtures.Tokens(model, 8, 4);
        var corrupted = clean.ToArray();
        corrupted[2] = (corrupted[2] + 7) % model.Config.VocabSize;
        var pair = new PromptPair(clean, corrupted, 3, 5);
        Component[] components = [new(ComponentKind.Query, 1, 2), new(ComponentKind.Key, 1, 1), new(ComponentKind.Head, 1, 0)];
        var result = new AttributionEngine(model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.AtpStar | Methods.Patching }).Run([pair], components);
        foreach (var id in new[] { "L1H2Q", "L1H1K" })
        {
            var (s, _) = Surrogate(model, pair, result.Component(id).Component);
            result.Component(id).AtpStar!.Value.Should().BeApproximately(s(1) - s(0), 1e-9, id);
        }
        result.Component("L1H0").AtpStar.Should().NotBeNull("heads get GradDrop");
    }

    private static double FiniteDifference(HookedTransformer model, PromptPair pair, Component component)
    {
        var (S, _) = Surrogate(model, pair, component);
        const double h = 1e-3;
        return 0.5 * (S(h) - 2 * S(0) + S(-h)) / (h * h);
    }

    // s(t) = Σ G ⊙ pattern(a + tδ), with G = ∂M/∂pattern at the clean run: M linearised downstream of the pattern.
    private static (Func<double, double> S, Tensor G) Surrogate(HookedTransformer model, PromptPair pair, Component component)
    {
        var input = ModelInput.Single(pair.Clean);
        var pattern = new Site(SiteKind.AttnPattern, component.Layer);
        var site = component.Site;
        Tensor delta;
        using (no_grad())
        {
            var a = new HookPlan(model.Config).Cache(site);
            model.Forward(input, a);
            var b = new HookPlan(model.Config).Cache(site);
            model.Forward(ModelInput.Single(pair.Corrupted), b);
            delta = (b[site] - a[site]) * component.Mask(model.Config, pair.Clean.Count, model.Device);
        }
        var patternOffset = zeros([1, .. pattern.Shape(model.Config, pair.Clean.Count)], dtype: ScalarType.Float64, requires_grad: true);
        var logits = model.Forward(input, new HookPlan(model.Config).Add(new AddOffset(pattern, patternOffset)));
        var metric = logits[0, -1, pair.Answer] - logits[0, -1, pair.Wrong];
        var g = autograd.grad([metric], [patternOffset])[0].detach();

        double S(double t)
        {
            using var _ = no_grad();
            var plan = new HookPlan(model.Config).Add(new AddOffset(site, delta * t)).Cache(pattern);
            model.Forward(input, plan);
            return (plan[pattern] * g).sum().item<double>();
        }
        return (S, g);
    }
}
