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
    public static double[] Curvature(HookedTransformer model, PairState pair, IReadOnlyList<Component> components, int probes, int maxRows, long seed, CostLedger cost)
    {
        var sum = new double[components.Count];
        var generator = new Generator((ulong)seed);
        var signs = (rand([probes, components.Count], generator: generator) < 0.5).to_type(ScalarType.Float32) * 2 - 1;
        for (int start = 0; start < probes; start += maxRows)
        {
            int p = Math.Min(maxRows, probes - start);
            var chunkSigns = signs.narrow(0, start, p);
            var partial = cost.Measure("screen.hutchinson", forwards: 1, backwards: 2, rows: p, () => Chunk(model, pair, components, chunkSigns));
            for (int i = 0; i < sum.Length; i++) sum[i] += partial[i];
        }
        return [.. sum.Select(v => 0.5 * v / probes)];
    }

    private static double[] Chunk(HookedTransformer model, PairState pair, IReadOnlyList<Component> components, Tensor signs)
    {
        using var scope = NewDisposeScope();
        var c = model.Config;
        int p = (int)signs.shape[0], positions = (int)pair.Clean.Positions;
        signs = signs.to(model.DType).to(model.Device);
        int firstLayer = components.Min(x => x.Layer);
        var input = pair.Clean.Repeat(0, p);
        var plan = new HookPlan(c);
        var groups = Enumerable.Range(0, components.Count).GroupBy(i => components[i].Site).ToList();
        var offsets = new List<Tensor>();
        var directions = new List<Tensor>();
        var maskStacks = new List<Tensor>();
        foreach (var group in groups)
        {
            var site = group.Key;
            var indices = group.ToArray();
            var masks = stack(indices.Select(i => components[i].Mask(c, positions, model.Device)).ToArray());  // [n, ...]
            var groupSigns = signs.index_select(1, tensor(indices.Select(i => (long)i).ToArray(), device: model.Device)); // [p, n]
            // v at this site, per probe: Σ_c s_pc mask_c δ  → [p, ...]
            var v = matmul(groupSigns, masks.flatten(1)).view([p, .. masks.shape[1..]]) * pair.Delta[site];
            var u = zeros([p, .. site.Shape(c, positions)], dtype: model.DType, device: model.Device, requires_grad: true);
            plan.Add(new AddOffset(site, u));
            offsets.Add(u);
            directions.Add(v);
            maskStacks.Add(masks);
        }
        var m = pair.Metric.Measure(model, input, plan, firstLayer: firstLayer, residPre: pair.ResidPre[firstLayer].expand(p, -1, -1)).sum();
        var grads = autograd.grad([m], offsets, retain_graph: true, create_graph: true, allow_unused: true);
        Tensor? gv = null;
        for (int i = 0; i < offsets.Count; i++)
            if (grads[i] is { } g && !g.IsInvalid && g.requires_grad)
                gv = gv is null ? (g * directions[i]).sum() : gv + (g * directions[i]).sum();
        var result = new double[components.Count];
        if (gv is null) return result; // metric linear in every offset: no curvature
        var hv = autograd.grad([gv], offsets, retain_graph: false, allow_unused: true);
        for (int gi = 0; gi < groups.Count; gi++)
        {
            if (hv[gi] is not { } h || h.IsInvalid) continue;
            var indices = groups[gi].ToArray();
            var groupSigns = signs.index_select(1, tensor(indices.Select(i => (long)i).ToArray(), device: model.Device)); // [p, n]
            // s_pc · Σ mask_c ⊙ δ ⊙ (Hv)_p, summed over probes
            var projected = matmul((h * pair.Delta[groups[gi].Key]).flatten(1), maskStacks[gi].flatten(1).t()); // [p, n]
            var perComponent = (projected * groupSigns).sum(dim: 0).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            for (int j = 0; j < indices.Length; j++) result[indices[j]] = perComponent[j];
        }
        return result;
    }
}
