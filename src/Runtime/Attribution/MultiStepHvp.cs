namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// MS-HVP with K sub-steps: Σ_{k&lt;K} [φ′(k/K)/K + ½φ″(k/K)/K²] — the second-order correction applied piecewise,
/// for patches too large for one Taylor step. K = 1 is HVP. Its estimated bound sums each sub-step's remainder,
/// Σ_k |φ″((k+1)/K) − φ″(k/K)|·K / (6K³), with φ″(1) from one extra row.
/// </summary>
internal static class MultiStepHvp
{
    /// <summary>
    /// MS-HVP for <paramref name="components"/>. When the end points are already known (φ′(0) and φ″(0) from the
    /// HVP stage, φ″(1) from its bound rows), only the K − 1 interior sub-steps are evaluated.
    /// </summary>
    public static (double[] Estimate, double[] Bound) Estimate(IPhiFunction phi, IReadOnlyList<int> components, int k, CostLedger cost,
        (double[] FirstAtZero, double[] SecondAtZero, double[] SecondAtOne)? known = null)
    {
        int from = known is null ? 0 : 1, to = known is null ? k : k - 1;
        var rows = components.SelectMany(c => Enumerable.Range(from, to - from + 1).Select(j => new PhiRow(c, (double)j / k))).ToArray();
        var v = rows.Length == 0 ? new PhiValues([], [], []) : phi.Evaluate(rows, order: 2, cost, "mshvp");
        var estimate = new double[components.Count];
        var bound = new double[components.Count];
        int per = to - from + 1;
        for (int i = 0; i < components.Count; i++)
        {
            // φ′ and φ″ at the sub-step points j/K, j = 0..K.
            var first = new double[k + 1];
            var second = new double[k + 1];
            for (int j = from; j <= to; j++)
            {
                first[j] = v.First[i * per + j - from];
                second[j] = v.Second[i * per + j - from];
            }
            if (known is { } end)
            {
                first[0] = end.FirstAtZero[i];
                second[0] = end.SecondAtZero[i];
                second[k] = end.SecondAtOne[i];
            }
            for (int j = 0; j < k; j++)
            {
                estimate[i] += first[j] / k + 0.5 * second[j] / ((double)k * k);
                bound[i] += Math.Abs(second[j + 1] - second[j]) * k / (6.0 * k * k * k);
            }
        }
        return (estimate, bound);
    }
}
