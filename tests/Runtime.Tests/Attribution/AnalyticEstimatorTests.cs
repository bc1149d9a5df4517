using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>Every estimator on closed-form φ: quadratic (HVP exact), cubic (error = φ‴/6), exp.</summary>
public class AnalyticEstimatorTests
{
    /// <summary>φ_c(t) given in closed form with its first two derivatives, one function per component.</summary>
    private sealed class ClosedForm(params (Func<double, double> F, Func<double, double> D1, Func<double, double> D2)[] functions) : IPhiFunction
    {
        public double AtZero => functions[0].F(0);

        public PhiValues Evaluate(IReadOnlyList<PhiRow> rows, int order, CostLedger cost, string method) => new(
            [.. rows.Select(r => functions[r.Component].F(r.T))],
            [.. rows.Select(r => order >= 1 ? functions[r.Component].D1(r.T) : double.NaN)],
            [.. rows.Select(r => order >= 2 ? functions[r.Component].D2(r.T) : double.NaN)]);
    }

    // φ(0) is shared (AtZero), as for real components of one pair.
    private static readonly (Func<double, double>, Func<double, double>, Func<double, double>) Quadratic =
        (t => 1 + 2 * t - 3 * t * t, t => 2 - 6 * t, _ => -6);
    private static readonly (Func<double, double>, Func<double, double>, Func<double, double>) Cubic =
        (t => 1 - t + 0.5 * t * t + 4 * t * t * t, t => -1 + t + 12 * t * t, t => 1 + 24 * t);
    private static readonly (Func<double, double>, Func<double, double>, Func<double, double>) Exp =
        (Math.Exp, Math.Exp, Math.Exp);

    private static readonly ClosedForm Phi = new(Quadratic, Cubic, Exp);
    private static readonly int[] All = [0, 1, 2];
    private const double Tol = 1e-6;

    [Fact]
    public void Patching_is_phi1_minus_phi0()
    {
        var patch = ActivationPatching.Estimate(Phi, All, new CostLedger());
        patch[0].Should().BeApproximately(-1, Tol);
        patch[1].Should().BeApproximately(3.5, Tol);
        patch[2].Should().BeApproximately(Math.E - 1, Tol);
    }

    [Fact]
    public void Hvp_is_exact_on_a_quadratic_and_misses_a_cubic_by_exactly_its_third_order_term()
    {
        var second = HessianVectorCorrection.Estimate(Phi, All, new CostLedger());
        second.Linear.Should().Equal(2, -1, 1);
        second.Corrected(0).Should().BeApproximately(-1, Tol, "quadratic: HVP is exact");
        (3.5 - second.Corrected(1)).Should().BeApproximately(4, Tol, "cubic: error = φ‴/6 = 24/6");
        second.Corrected(2).Should().BeApproximately(1.5, Tol, "exp: 1 + 1/2");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void MsHvp_error_on_a_cubic_is_d_over_K_squared_and_its_bound_is_tight(int k)
    {
        var (estimate, bound) = MultiStepHvp.Estimate(Phi, All, k, new CostLedger());
        estimate[0].Should().BeApproximately(-1, Tol);
        (3.5 - estimate[1]).Should().BeApproximately(4.0 / (k * k), Tol);
        bound[1].Should().BeApproximately(4.0 / (k * k), Tol);
        // exp: Σ_j e^{j/K}(1/K + 1/(2K²)) = (1/K + 1/(2K²)) (e − 1) / (e^{1/K} − 1)
        double h = 1.0 / k;
        estimate[2].Should().BeApproximately((h + h * h / 2) * (Math.E - 1) / (Math.Exp(h) - 1), Tol);
    }

    [Fact]
    public void Ig_is_the_trapezoid_rule_exact_for_quadratics()
    {
        const int m = 32;
        double h = 1.0 / (m - 1);
        var ig = IntegratedGradients.Estimate(Phi, All, m, new CostLedger());
        ig[0].Should().BeApproximately(-1, Tol, "φ′ linear: trapezoid exact");
        ig[1].Should().BeApproximately(3.5 + 4 * h * h / 2, Tol, "trapezoid error (h²/12)·f″ with f = φ′, f″ = 24");
        ig[2].Should().BeApproximately(h * (Math.E - 1) / 2 / Math.Tanh(h / 2), Tol, "trapezoid of e^t in closed form");
    }

    [Fact]
    public void Reliability_scores_follow_their_definitions()
    {
        ReliabilityScore.Ratio(2, -1, 1e-3).Should().Be(0.5);
        ReliabilityScore.Ratio(0, 1, 1e-3).Should().Be(1000);
        ReliabilityScore.Normalised(2, -1, 1e-3, 10).Should().BeApproximately(1 / 3.01, 1e-12);
        ReliabilityScore.Normalised(0, 0, 1e-3, 0).Should().Be(0);
    }
}
