using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// AtP*'s GradDrop (Kramár et al. 2024, §3.2): recompute AtP with the gradient through layer ℓ's residual writes
/// (attn_out, mlp_out) dropped, for every ℓ, and average magnitudes: Σ_ℓ |ĉ^{(ℓ)}| / (L − 1). Reported with AtP's
/// sign. Batched as L rows of one forward and one backward. Query/key inputs get <see cref="QkFix"/> instead.
/// </summary>
internal static class GradDrop
{
    public static double[] Estimate(HookedTransformer model, PairState pair, ComponentMasks masks, double[] atp, CostLedger cost)
    {
        var c = model.Config;
        int layers = c.Layers;
        return cost.Measure("atpstar", forwards: 1, backwards: 1, rows: layers, () =>
        {
            using var scope = NewDisposeScope();
            var input = pair.Clean.Repeat(0, layers);
            var plan = new HookPlan(c);
            for (int l = 0; l < layers; l++)
            {
                var rowMask = arange(layers, device: model.Device) == l;
                plan.Add(new StopGradient(new Site(SiteKind.AttnOut, l), rowMask));
                plan.Add(new StopGradient(new Site(SiteKind.MlpOut, l), rowMask));
            }
            var sites = masks.Sites.ToList();
            var offsets = sites.ToDictionary(s => s, s => zeros([layers, .. s.Shape(c, (int)pair.Clean.Positions)], dtype: model.DType, device: model.Device, requires_grad: true));
            foreach (var (site, u) in offsets) plan.Add(new AddOffset(site, u));
            var m = pair.Metric.Measure(model, input, plan).sum();
            var grads = autograd.grad([m], [.. offsets.Values], retain_graph: false, allow_unused: true);
            var total = new double[masks.Components.Count];
            for (int l = 0; l < layers; l++)
            {
                var gradient = new Dictionary<Site, Tensor>();
                int i = 0;
                foreach (var site in offsets.Keys)
                {
                    var g = grads[i++];
                    gradient[site] = g is null || g.IsInvalid ? zeros_like(offsets[site][l].unsqueeze(0)) : g[l].unsqueeze(0);
                }
                var dropped = AttributionPatching.Dot(masks, pair, gradient);
                for (int k = 0; k < total.Length; k++) total[k] += Math.Abs(dropped[k]);
            }
            return total.Select((v, k) => Math.Sign(atp[k]) * v / Math.Max(1, layers - 1)).ToArray();
        });
    }
}
