using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Training;
using Xunit.Sdk;

namespace CircuitDsl.Testing.Tests;

/// <summary>The IOI toy model (ours, committed), loaded once for the class.</summary>
public sealed class IoiToyFixture() : ModelFixture(EmbeddedModels.Locate("ioi"));

public class FaithfulnessTests(IoiToyFixture toy) : IClassFixture<IoiToyFixture>
{
    private Faithfulness Evaluate(Ablation ablation = Ablation.Corrupted)
    {
        var universe = Components.Heads(toy.Model.Config).Concat(Components.Mlps(toy.Model.Config)).ToList();
        return new Faithfulness(toy.Model, new IoiTask().Pairs(8, seed: 2), universe, ablation);
    }

    [Theory]
    [InlineData(Ablation.Corrupted)]
    [InlineData(Ablation.Mean)]
    public void Full_model_is_one_and_empty_circuit_is_zero(Ablation ablation)
    {
        var f = Evaluate(ablation);
        f.Of(f.Universe).Should().BeApproximately(1, 1e-9);
        f.Of([]).Should().BeApproximately(0, 1e-9);
    }

    [Fact]
    public void Cpr_and_cmd_match_hand_computed_values_on_a_small_curve()
    {
        (double, double)[] curve = [(0, 0), (0.5, 0.8), (1, 1)];
        Faithfulness.Cpr(curve).Should().BeApproximately(0.5 * 0.4 + 0.5 * 0.9, 1e-12);   // 0.65
        Faithfulness.Cmd(curve).Should().BeApproximately(0.5 * 0.6 + 0.5 * 0.1, 1e-12);   // 0.35
        (double, double)[] overshoot = [(0, 0), (0.5, 1.4), (1, 1)];
        Faithfulness.Cmd(overshoot).Should().BeApproximately(0.5 * 0.5 * (1 + 0.4) + 0.5 * 0.5 * 0.4, 1e-12, "CMD counts overshoot too");
    }

    [Fact]
    public void Faithfulness_grows_along_the_patching_ranking()
    {
        var f = Evaluate();
        var ranking = new AttributionEngine(toy.Model, new AttributionOptions { Methods = Methods.Patching, ScreenFlagFix = false })
            .Run(new IoiTask().Pairs(8, seed: 2), f.Universe).Components.OrderByDescending(c => Math.Abs(c.Patching!.Value)).Select(c => c.Component).ToList();
        var curve = f.Curve(ranking);
        curve[0].Faithfulness.Should().BeApproximately(0, 1e-9);
        curve[^1].Faithfulness.Should().BeApproximately(1, 1e-9);
        Faithfulness.Cpr(curve).Should().BeGreaterThan(Faithfulness.Cpr(f.Curve([.. ranking.AsEnumerable().Reverse()])), "the patching order beats its reverse");
    }

    private static CircuitUnderTest Claim(IoiToyFixture toy, string name, params string[] ids) =>
        CircuitUnderTest.From(name, [new CircuitDsl.ComponentGroup(name, [.. ids.Select(id => Ref(Component.Parse(id)))])], toy.Model, new IoiTask().Pairs(8, seed: 2));

    private static CircuitDsl.ComponentRef Ref(Component c) => new(c.Kind, c.Layer, c.Index);

    // Layers 0–1 and every MLP: measured f ≈ 0.83 under corrupted ablation (the layer-2 heads add the rest).
    private static readonly string[] Core = ["L0MLP", "L1MLP", "L2MLP", "L0H0", "L0H1", "L0H2", "L0H3", "L1H0", "L1H1", "L1H2", "L1H3"];

    [Fact]
    public void BeFaithful_passes_on_the_core_and_fails_on_a_single_head_with_the_numbers()
    {
        Claim(toy, "core", Core).Should().BeFaithful(atLeast: 0.8);
        var act = () => Claim(toy, "one head", "L2H2").Should().BeFaithful(0.8);
        act.Should().Throw<XunitException>().WithMessage("*one head*faithful to at least 0.8*f = *M(full)*Corrupted ablation of 14 other components*");
    }

    [Fact]
    public void BeComplete_names_the_component_that_would_help()
    {
        Claim(toy, "almost all", [.. Core, "L2H0", "L2H2", "L2H3"]).Should().BeComplete(tolerance: 0.05);
        var act = () => Claim(toy, "core without L1H1", [.. Core.Where(id => id != "L1H1")]).Should().BeComplete(tolerance: 0.05);
        act.Should().Throw<XunitException>().WithMessage("*core without L1H1*complete*adding L1H1*");
    }

    [Fact]
    public void BeMinimal_names_the_component_that_does_nothing()
    {
        Claim(toy, "core", Core).Should().BeMinimal(minimumContribution: 0.01);
        // One MLP neuron of the last layer barely matters: padding the core with it makes the claim non-minimal.
        var act = () => Claim(toy, "padded", [.. Core, "L2N5"]).Should().BeMinimal(minimumContribution: 0.01);
        act.Should().Throw<XunitException>().WithMessage("*padded*minimal*removing L2N5*");
    }
}
