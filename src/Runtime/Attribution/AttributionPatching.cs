using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// Estimates that are a gradient dotted with δ, for all components from gradients already in <see cref="PairState"/>:
/// AtP (Nanda 2023; Kramár et al. 2024) gᵀδ = φ′(0); GIM (Edin et al. 2025) with a modified-backward gradient; and
/// the gradient-difference curvature screen ½(g′ − g)ᵀδ ≈ ½δᵀHδ from the corrupted-run gradient g′.
/// </summary>
internal static class AttributionPatching
{
    /// <summary>Σ over each component's slice of <paramref name="gradient"/> ⊙ δ.</summary>
    public static double[] Dot(ComponentMasks masks, PairState pair, IReadOnlyDictionary<Site, Tensor> gradient) =>
        masks.Sums(site => gradient[site] * pair.Delta[site]);

    /// <summary>AtP: gᵀδ with g the clean gradient.</summary>
    public static double[] Atp(ComponentMasks masks, PairState pair) => Dot(masks, pair, pair.CleanGradient);

    /// <summary>½(g′ − g)ᵀδ: a curvature estimate that needs one more backward for all components.</summary>
    public static double[] GradientDifferenceCurvature(ComponentMasks masks, PairState pair) =>
        [.. masks.Sums(site => (pair.CorruptedGradient[site] - pair.CleanGradient[site]) * pair.Delta[site]).Select(v => 0.5 * v)];
}
