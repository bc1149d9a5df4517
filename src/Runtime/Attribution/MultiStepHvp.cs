namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// MS-HVP with K sub-steps: Σ_{k&lt;K} [φ′(k/K)/K + ½φ″(k/K)/K²] — the second-order correction applied piecewise,
/// for patches too large for one Taylor step. K = 1 is HVP. Its estimated bound sums each sub-step's remainder,
/// Σ_k |φ″((k+1)/K) − φ″(k/K)|·K / (6K³), with φ″(1) from one extra row.
/// </summary>
internal static class MultiStepHvp
{
    /// <summary>MS-HVP for <paramref name="components"/>: K + 1 second-order rows each (t = 0, 1/K, …, 1).</summary>
    public static (double[] Estimate, double[] Bound) Estimate(IPhiFunction phi, IReadOnlyList<int> components, int k, CostLedger cost)
    {
        var rows = components.SelectMany(c => Enumerable.Range(0, k + 1).Select(j => new PhiRow(c, (double)j / k))).ToArray();
        var v = rows.Length == 0 ? new PhiValues([], [], []) : phi.Evaluate(rows, order: 2, cost, "mshvp");
        var estimate = new double[components.Count];
        var bound = new double[components.Count];
        for (int i = 0; i < components.Count; i++)
        {
            // φ′ and φ″ at the sub-step points j/K, j = 0..K.
            var first = v.First.AsSpan(i * (k + 1), k + 1);
            var second = v.Second.AsSpan(i * (k + 1), k + 1);
            for (int j = 0; j < k; j++)
            {
                estimate[i] += first[j] / k + 0.5 * second[j] / ((double)k * k);
                bound[i] += Math.Abs(second[j + 1] - second[j]) * k / (6.0 * k * k * k);
            }
        }
        return (estimate, bound);
    }
}
