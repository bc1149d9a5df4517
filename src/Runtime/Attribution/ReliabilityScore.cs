namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// How much to trust AtP's l = gᵀδ given the second-order term q = ½δᵀHδ (Zhang &amp; Wang 2026):
/// R = |q| / max(|l|, ε) and the normalised R̃ = |q| / (|l| + |q| + ε·s) ∈ [0, 1), with s = |M(x) − M(x′)| so tiny
/// effects are not flagged for being tiny. Flag when R̃ ≥ τ; τ = 1/3 means q is half as large as l.
/// </summary>
public static class ReliabilityScore
{
    /// <summary>R = |q| / max(|l|, ε).</summary>
    public static double Ratio(double linear, double quadratic, double epsilon) =>
        Math.Abs(quadratic) / Math.Max(Math.Abs(linear), epsilon);

    /// <summary>R̃ = |q| / (|l| + |q| + ε·s).</summary>
    public static double Normalised(double linear, double quadratic, double epsilon, double scale)
    {
        double denominator = Math.Abs(linear) + Math.Abs(quadratic) + epsilon * scale;
        return denominator == 0 ? 0 : Math.Abs(quadratic) / denominator;
    }
}
