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
        return new SecondOrder(values.First, [.. values.Second.Select(v => 0.5 * v)]);
    }

    /// <summary>
    /// Estimated Taylor-remainder bound |φ(1) − φ(0) − φ′(0) − ½φ″(0)| ≤ sup|φ‴|/6, with sup|φ‴| estimated by the
    /// secant |φ″(1) − φ″(0)| (one more second-order row per component). An estimate, not a guarantee. The row at
    /// t = 1 is the component fully patched, so it also returns the exact patching effect φ(1) − φ(0).
    /// </summary>
    public static (double[] Bound, double[] Patching) Bound(IPhiFunction phi, IReadOnlyList<int> components, SecondOrder atZero, CostLedger cost)
    {
        var atOne = phi.Evaluate([.. components.Select(c => new PhiRow(c, 1.0))], order: 2, cost, "bound");
        return ([.. components.Select((_, i) => Math.Abs(atOne.Second[i] - 2 * atZero.Quadratic[i]) / 6)], [.. atOne.Phi.Select(v => v - phi.AtZero)]);
    }
}
