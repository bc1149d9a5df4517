using CircuitDsl.Runtime.Attribution;
using Xunit.Sdk;

namespace CircuitDsl.Testing.Tests;

/// <summary>Each assertion passes on a true claim and fails, with the explaining table, on a false one.</summary>
public class AssertionTests
{
    private static ComponentEstimate Estimate(string id, double patching, double atp, double? hvp, double rTilde, bool flagged, double bound) => new()
    {
        Component = Component.Parse(id), Patching = patching, Atp = atp, Hvp = hvp, RTilde = rTilde, Flagged = flagged, Bound = bound,
    };

    private static readonly AttributionResult Result = new()
    {
        Model = "synthetic",
        MetricKind = "logit_diff",
        CleanMetric = 3,
        CorruptedMetric = -3,
        Pairs = 4,
        Options = new AttributionOptions(),
        Cost = new Dictionary<string, MethodCost>(),
        Components =
        [
            Estimate("L9H9", -2.0, -1.9, null, 0.02, false, 0.05),
            Estimate("L4H11", -1.5, -0.2, -1.4, 0.70, true, 0), // flagged: exactly patched
            Estimate("L10H0", -1.0, -1.1, null, 0.05, false, 0.02),
            Estimate("L0H1", 0.3, 0.25, null, 0.10, false, 0.01),
            Estimate("L2MLP", 0.1, 0.12, null, 0.05, false, 0.01),
        ],
    };

    [Fact]
    public void RankInTop_passes_for_a_top_component_and_fails_with_its_rank_and_the_table()
    {
        Result.Should().RankInTop(2, "L9H9");
        var act = () => Result.Should().RankInTop(2, "L10H0");
        act.Should().Throw<XunitException>().WithMessage("*L10H0*top 2*ranks 3*component*patching*L9H9*top by activation patching: L9H9, L4H11*");
    }

    [Fact]
    public void BeFlagged_and_BeReliable_follow_the_flag()
    {
        Result.ShouldHave("L4H11").BeFlagged();
        Result.ShouldHave("L9H9").BeReliable();
        ((Action)(() => Result.ShouldHave("L9H9").BeFlagged())).Should().Throw<XunitException>().WithMessage("*L9H9 to be flagged*R̃*0.02*");
        ((Action)(() => Result.ShouldHave("L4H11").BeReliable("AtP was said to be fine"))).Should().Throw<XunitException>()
            .WithMessage("*L4H11 to be reliable because AtP was said to be fine*flagged*0.7*FLAG*");
    }

    [Fact]
    public void HaveEffect_Between_honours_the_bound()
    {
        Result.ShouldHave("L9H9").HaveEffect().Between(-2.0, -1.8);
        // AtP −1.9 ± 0.05 = [−1.95, −1.85]: inside [−1.92, 0] at the estimate but not with the bound.
        var act = () => Result.ShouldHave("L9H9").HaveEffect().Between(-1.92, 0);
        act.Should().Throw<XunitException>().WithMessage("*effect of L9H9*between -1.92 and 0*-1.9*0.05*-1.95*-1.85*");
        // A flagged component's estimate is its exact patching effect.
        Result.ShouldHave("L4H11").HaveEffect().Between(-1.5, -1.5);
    }

    [Fact]
    public void AgreeWithPatching_compares_top_k_sets()
    {
        Result.Should().AgreeWithPatching(topK: 3, atLeast: 1.0);
        var noisy = Result with { Components = [.. Result.Components.Select(c => c.Id == "L0H1" ? c with { Atp = -5 } : c)] };
        var act = () => noisy.Should().AgreeWithPatching(topK: 3, atLeast: 1.0);
        act.Should().Throw<XunitException>().WithMessage("*top-3 agreement*at least 1*0.66*L0H1*");
        var unpatched = Result with { Components = [.. Result.Components.Select(c => c with { Patching = null })] };
        ((Action)(() => unpatched.Should().AgreeWithPatching())).Should().Throw<XunitException>().WithMessage("*patching was not computed*");
        ((Action)(() => Result.Should().AgreeWithPatching(atLeast: 80))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*fraction in [0, 1]*");
        ((Action)(() => Result.Should().AgreeWithPatching(topK: 0))).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => Result.Should().RankInTop(0, "L9H9"))).Should().Throw<ArgumentOutOfRangeException>();
    }
}
