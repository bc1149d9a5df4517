namespace CircuitDsl.Runtime.Attribution;

/// <summary>Exact activation patching, the ground truth: Δ_c = φ_c(1) − φ_c(0), one forward row per component.</summary>
internal static class ActivationPatching
{
    public static double[] Estimate(IPhiFunction phi, IReadOnlyList<int> components, CostLedger cost)
    {
        var values = phi.Evaluate([.. components.Select(c => new PhiRow(c, 1.0))], order: 0, cost, "patching");
        return [.. values.Phi.Select(v => v - phi.AtZero)];
    }
}
