using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// A cheap curvature screen for all components at once: with random signs s ∈ {±1}^C and the joint direction
/// v = Σ_c s_c δ_c, one Hessian-vector product Hv gives s_c δ_cᵀ(Hv)_c, whose expectation over s is δ_cᵀH_cδ_c
/// (Hutchinson 1989). P probes are P batch rows of one forward + double backward. Off-diagonal blocks add variance,
/// never bias; more probes, less noise (the budget knob).
/// </summary>
internal static class HutchinsonScreen
{
    /// <summary>Estimates ½δ_cᵀH_cδ_c for every component.</summary>
    public static double[] Curvature(HookedTransformer model, PairState pair, ComponentMasks masks, int probes, int maxRows, long seed, CostLedger cost)
    {
        var sum = new double[masks.Components.Count];
        var generator = new Generator((ulong)seed);
        var signs = (rand([probes, masks.Components.Count], generator: generator) < 0.5).to_type(ScalarType.Float32) * 2 - 1;
        for (int start = 0; start < probes; start += maxRows)
        {
            int p = Math.Min(maxRows, probes - start);
            var chunkSigns = signs.narrow(0, start, p);
            var partial = cost.Measure("screen.hutchinson", forwards: 1, backwards: 2, rows: p, () => Chunk(model, pair, masks, chunkSigns));
            for (int i = 0; i < sum.Length; i++) sum[i] += partial[i];
        }
        return [.. sum.Select(v => 0.5 * v / probes)];
    }

    private static double[] Chunk(HookedTransformer model, PairState pair, ComponentMasks masks, Tensor signs)
    {
        using var scope = NewDisposeScope();
        int p = (int)signs.shape[0];
        signs = signs.to(model.DType).to(model.Device);
        var sites = masks.Sites.ToArray();
        int firstLayer = sites.Min(s => s.Layer);
        var input = pair.Clean.Repeat(0, p);
        var plan = new HookPlan(model.Config);
        // Per site and probe, the joint direction v = Σ_c s_pc mask_c ⊙ δ, and a zero offset u to differentiate at.
        var siteSigns = sites.Select(site => signs.index_select(1, tensor(masks.Members(site).Select(i => (long)i).ToArray(), device: model.Device))).ToArray();
        var directions = sites.Select((site, k) => masks.Spread(site, siteSigns[k]) * pair.Delta[site]).ToArray();
        var offsets = sites.Select(site => zeros([p, .. site.Shape(model.Config, masks.Positions)], dtype: model.DType, device: model.Device, requires_grad: true)).ToArray();
        for (int k = 0; k < sites.Length; k++) plan.Add(new AddOffset(sites[k], offsets[k]));

        var m = pair.Metric.Measure(model, input, plan, firstLayer: firstLayer, residPre: pair.ResidPre[firstLayer].expand(p, -1, -1)).sum();
        var grads = autograd.grad([m], offsets, retain_graph: true, create_graph: true, allow_unused: true);
        Tensor? gv = null;
        for (int k = 0; k < offsets.Length; k++)
            if (grads[k] is { } g && !g.IsInvalid && g.requires_grad)
                gv = gv is null ? (g * directions[k]).sum() : gv + (g * directions[k]).sum();
        var result = new double[masks.Components.Count];
        if (gv is null) return result; // metric linear in every offset: no curvature
        var hv = autograd.grad([gv], offsets, retain_graph: false, allow_unused: true);
        for (int k = 0; k < sites.Length; k++)
        {
            if (hv[k] is not { } h || h.IsInvalid) continue;
            // Σ_p s_pc · Σ over mask_c of δ ⊙ (Hv)_p
            var perComponent = (masks.SumOver(sites[k], h * pair.Delta[sites[k]]) * siteSigns[k]).sum(dim: 0)
                .to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            var members = masks.Members(sites[k]);
            for (int j = 0; j < members.Length; j++) result[members[j]] = perComponent[j];
        }
        return result;
    }
}
