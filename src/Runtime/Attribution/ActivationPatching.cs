namespace CircuitDsl.Runtime.Attribution;

/// <summary>Exact activation patching, the ground truth: Δ_c = φ_c(1) − φ_c(0), one forward row per component.</summary>
internal static class ActivationPatching
{
    public static double[] Estimate(IPhiFunction phi, IReadOnlyList<int> components, CostLedger cost)
    {
        var values = phi.Evaluate([.. components.Select(c => new PhiRow(c, 1.0))], order: 0, cost, "patching");
        return [.. values.Phi.Select(v => v - phi.AtZero)];
    }

    /// <summary>The effects in every pair of <paramref name="phi"/>, from shared chunks.</summary>
    public static double[][] EstimateEach(PhiEvaluator phi, IReadOnlyList<int> components, CostLedger cost) =>
        [.. phi.EvaluateEach(components, 1.0, order: 0, cost, "patching").Select((values, j) => values.Phi.Select(v => v - phi.Pairs[j].CleanMetric).ToArray())];
}
