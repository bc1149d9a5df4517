using CircuitDsl.Runtime.Models;
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
    public static double[] Dot(HookedTransformer model, PairState pair, IReadOnlyList<Component> components, IReadOnlyDictionary<Site, Tensor> gradient)
    {
        using var scope = NewDisposeScope();
        var result = new double[components.Count];
        int positions = (int)pair.Clean.Positions;
        foreach (var group in Enumerable.Range(0, components.Count).GroupBy(i => components[i].Site))
        {
            var product = (gradient[group.Key] * pair.Delta[group.Key])[0];
            var indices = group.ToArray();
            var masks = stack(indices.Select(i => components[i].Mask(model.Config, positions, model.Device)).ToArray());
            var sums = (masks * product).flatten(1).sum(1).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            for (int j = 0; j < indices.Length; j++) result[indices[j]] = sums[j];
        }
        return result;
    }

    /// <summary>AtP: gᵀδ with g the clean gradient.</summary>
    public static double[] Atp(HookedTransformer model, PairState pair, IReadOnlyList<Component> components) =>
        Dot(model, pair, components, pair.CleanGradient);

    /// <summary>½(g′ − g)ᵀδ: a curvature estimate that needs one more backward for all components.</summary>
    public static double[] GradientDifferenceCurvature(HookedTransformer model, PairState pair, IReadOnlyList<Component> components)
    {
        var corrupted = Dot(model, pair, components, pair.CorruptedGradient);
        var clean = Atp(model, pair, components);
        return [.. corrupted.Zip(clean, (a, b) => 0.5 * (a - b))];
    }
}
