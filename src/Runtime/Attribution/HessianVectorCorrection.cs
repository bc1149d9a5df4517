namespace CircuitDsl.Runtime.Attribution;

/// <summary>φ′(0), ½φ″(0) and the corrected estimate φ′(0) + ½φ″(0) = gᵀδ + ½δᵀHδ for some components.</summary>
internal sealed record SecondOrder(double[] Linear, double[] Quadratic)
{
    public double Corrected(int i) => Linear[i] + Quadratic[i];
}

/// <summary>
/// The second-order correction (Zhang &amp; Wang 2026): φ′(0) + ½φ″(0), with H the full network Hessian of M w.r.t.
/// the component's activation (downstream curvature included), by a batched double backward — one extra backward
/// per estimate, never forming H.
/// </summary>
internal static class HessianVectorCorrection
{
    public static SecondOrder Estimate(IPhiFunction phi, IReadOnlyList<int> components, CostLedger cost)
    {
        var values = phi.Evaluate([.. components.Select(c => new PhiRow(c, 0.0))], order: 2, cost, "hvp");
        return From(values);
    }

    /// <summary>Per pair of <paramref name="phi"/>, the estimates for <paramref name="components"/>: all pairs' rows in shared chunks.</summary>
    public static SecondOrder[] EstimateEach(PhiEvaluator phi, IReadOnlyList<int> components, CostLedger cost) =>
        [.. phi.EvaluateEach(components, 0.0, order: 2, cost, "hvp").Select(From)];

    private static SecondOrder From(PhiValues values) => new(values.First, [.. values.Second.Select(v => 0.5 * v)]);
}
