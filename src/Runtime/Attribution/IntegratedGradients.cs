namespace CircuitDsl.Runtime.Attribution;

/// <summary>Integrated gradients along the patch (Sundararajan et al. 2017): ∫₀¹ φ′(t) dt by the trapezoid rule on
/// an m-point grid, batched over components.</summary>
internal static class IntegratedGradients
{
    public static double[] Estimate(IPhiFunction phi, IReadOnlyList<int> components, int steps, CostLedger cost)
    {
        var rows = components.SelectMany(c => Enumerable.Range(0, steps).Select(j => new PhiRow(c, (double)j / (steps - 1)))).ToArray();
        var v = phi.Evaluate(rows, order: 1, cost, "ig");
        var result = new double[components.Count];
        for (int i = 0; i < components.Count; i++)
        {
            double sum = 0;
            for (int j = 0; j < steps; j++)
                sum += v.First[i * steps + j] * (j == 0 || j == steps - 1 ? 0.5 : 1.0);
            result[i] = sum / (steps - 1);
        }
        return result;
    }
}
