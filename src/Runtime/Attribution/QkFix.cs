namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// AtP*'s QK-fix (Kramár et al. 2024, §3.1) for query and key inputs: the attention softmax is recomputed exactly with
/// the patched queries (keys), and only what is downstream of the pattern is linearised:
/// Σ G ⊙ (pattern(a + δ) − pattern(a)), G = ∂M/∂pattern at the clean run. One forward row per component at t = 1 and
/// t = 0, no backward.
/// </summary>
internal static class QkFix
{
    public static double[] Estimate(PhiEvaluator phi, IReadOnlyList<int> components, CostLedger cost)
    {
        var rows = components.SelectMany(c => new[] { new PhiRow(c, 1), new PhiRow(c, 0) }).ToArray();
        var s = phi.EvaluateLocal(rows, cost, order: 0, method: "atpstar").Phi;
        return [.. components.Select((_, i) => s[2 * i] - s[2 * i + 1])];
    }
}
