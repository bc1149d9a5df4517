using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>Which estimate a result reports, on the IOI toy (ours, committed), where AtP lies and R̃ flags much.</summary>
public class FinalEstimateTests
{
    [Fact]
    public void Screen_flag_fix_reports_its_own_estimate_whatever_else_was_asked_and_plain_runs_the_best_computed()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(4, seed: 3);
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var sff = new AttributionEngine(model, new AttributionOptions { Methods = Methods.Patching | Methods.Hvp }).Run(pairs, components);
        var plain = new AttributionEngine(model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Patching | Methods.Hvp }).Run(pairs, components);

        sff.Components.Should().Contain(c => c.Flagged).And.Contain(c => !c.Flagged);
        foreach (var c in sff.Components)
            (c.EstimateMethod, c.Estimate).Should().Be(c.Flagged ? ("patching", c.Patching!.Value) : ("atp", c.Atp), $"{c.Id}: exact where flagged, AtP below τ");
        plain.Components.Should().OnlyContain(c => c.EstimateMethod == "hvp" && c.Estimate == c.Hvp, "without flags the best estimate computed stands");
        // The evaluation's "estimate" row applies the same rule per pair.
        var atp = sff.Evaluation!.Methods.Single(m => m.Method == "atp");
        var estimate = sff.Evaluation.Methods.Single(m => m.Method == "estimate");
        var (atpPerPair, truthPerPair) = (sff.Data!.Values["atp"], sff.Data.Values["patching"]);
        double expected = Enumerable.Range(0, pairs.Count).SelectMany(i => Enumerable.Range(0, components.Count)
            .Select(c => sff.Components[c].Flagged ? 0 : Math.Abs(atpPerPair[i][c] - truthPerPair[i][c]))).Average();
        estimate.MeanAbsError.Should().BeApproximately(expected, 1e-9, "flagged components are exact; the others contribute AtP's error");
        estimate.MeanAbsError.Should().BeLessThan(atp.MeanAbsError);
    }

    [Theory]
    [InlineData(true, true, FixMethod.Patching, "patching,mshvp,hvp,atp")]
    [InlineData(true, true, FixMethod.SecondOrder, "mshvp,hvp,atp")]
    [InlineData(false, true, FixMethod.Patching, "atp")]
    [InlineData(false, true, FixMethod.SecondOrder, "atp")]
    [InlineData(false, false, FixMethod.Patching, "mshvp,hvp,atp")]
    public void A_flagged_estimate_is_the_fix_s_and_an_unflagged_one_atp(bool flagged, bool screenFlagFix, FixMethod fix, string order) =>
        string.Join(",", ComponentEstimate.EstimateOrder(flagged, screenFlagFix, fix)).Should().Be(order);

    [Fact]
    public void The_second_order_fix_reports_atp_plus_the_exact_curvature_for_flagged_components_without_a_fix_pass()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(4, seed: 3);
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var byPatching = new AttributionEngine(model).Run(pairs, components);
        var secondOrder = new AttributionEngine(model, new AttributionOptions { Fix = FixMethod.SecondOrder }).Run(pairs, components);
        var evaluated = new AttributionEngine(model, new AttributionOptions { Fix = FixMethod.SecondOrder, Methods = Methods.Patching }).Run(pairs, components);

        byPatching.Cost.Should().ContainKey("patching", "the default fix patches each flagged component");
        secondOrder.Cost.Should().NotContainKey("patching", "the second-order fix needs no pass of its own");
        secondOrder.Components.Select(c => c.Flagged).Should().Equal(byPatching.Components.Select(c => c.Flagged), "the fix does not change the flags");
        secondOrder.Components.Should().Contain(c => c.Flagged);
        var curvature = secondOrder.Data!.Values["curvature"];
        foreach (var (c, j) in secondOrder.Components.Select((c, j) => (c, j)).Where(x => x.c.Flagged))
        {
            (c.EstimateMethod, c.Patching).Should().Be(("hvp", (double?)null), c.Id);
            c.Estimate.Should().BeApproximately(c.Atp + c.Curvature!.Value, 1e-9, $"{c.Id}: gᵀδ + ½δᵀHδ");
            c.Bound.Should().BeApproximately(curvature.Average(pair => Math.Abs(pair[j])), 1e-9, $"{c.Id}: its bound is the second-order term");
        }
        // With patching asked for evaluation, flagged components still report the second-order estimate, bounded as such.
        foreach (var c in evaluated.Components.Where(c => c.Flagged))
            (c.EstimateMethod, c.Bound > 0).Should().Be(("hvp", true), c.Id);
        var perPair = evaluated.Data!.Values;
        double expected = Enumerable.Range(0, pairs.Count).SelectMany(i => Enumerable.Range(0, components.Count).Select(c =>
            Math.Abs((evaluated.Components[c].Flagged ? perPair["hvp"][i][c] : perPair["atp"][i][c]) - perPair["patching"][i][c]))).Average();
        evaluated.Evaluation!.Methods.Single(m => m.Method == "estimate").MeanAbsError.Should().BeApproximately(expected, 1e-9);
    }
}
