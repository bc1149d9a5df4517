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
}
