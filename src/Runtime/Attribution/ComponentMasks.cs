using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// The components of one run as the flat indices each selects in its site (per prompt length), built once. Per-component
/// sums (gᵀδ, screens, ‖δ‖²) become one gather and one index_add per site, and patch directions one index_add, where a
/// dense [components × site] mask stack would cost 113 MB and most of a run's time for GPT-2 heads × positions.
/// </summary>
internal sealed class ComponentMasks : IDisposable
{
    private readonly Dictionary<Site, Group> _groups = [];

    // Members: component indices at the site. Owner[k]: which member the selected flat index Flat[k] belongs to.
    private sealed record Group(int[] Members, Tensor Owner, Tensor Flat, long[] Shape, Dictionary<int, int> Slot);

    /// <summary>Indexes <paramref name="components"/> for prompts of <paramref name="positions"/> tokens.</summary>
    public ComponentMasks(IReadOnlyList<Component> components, ModelConfig config, int positions, Device device)
    {
        Components = components;
        Positions = positions;
        using var scope = NewDisposeScope();
        foreach (var site in Enumerable.Range(0, components.Count).GroupBy(i => components[i].Site))
        {
            int[] members = [.. site];
            // Built by torch from the site's grid of flat indices: managed index arrays cost more than everything else
            // here (GPT-2 heads: 147 456 indices, about 20 ms a run in first touches of fresh pages and torch.tensor's copy).
            var shape = site.Key.Shape(config, positions);
            var grid = arange(shape.Aggregate(1L, (a, b) => a * b), dtype: ScalarType.Int64, device: device).view(shape);
            var flats = members.Select(i => components[i].Selected(config, positions, grid).flatten()).ToArray();
            var counts = tensor(flats.Select(f => f.shape[0]).ToArray(), device: device);
            var owner = arange(members.Length, dtype: ScalarType.Int64, device: device).repeat_interleave(counts);
            var slot = members.Select((c, j) => (c, j)).ToDictionary(x => x.c, x => x.j);
            _groups[site.Key] = new Group(members, owner.DetachFromDisposeScope(), cat(flats).DetachFromDisposeScope(), shape, slot);
        }
    }

    /// <summary>The components, in the order every per-component array uses.</summary>
    public IReadOnlyList<Component> Components { get; }

    /// <summary>The prompt length these masks are for.</summary>
    public int Positions { get; }

    /// <summary>The sites that hold components.</summary>
    public IEnumerable<Site> Sites => _groups.Keys;

    /// <summary>Indices (into <see cref="Components"/>) of the components at <paramref name="site"/>, in member order.</summary>
    public int[] Members(Site site) => _groups[site].Members;

    /// <summary>Per member of <paramref name="site"/>, the sum of <paramref name="values"/> [B, site…] over its slice: [B, members].</summary>
    public Tensor SumOver(Site site, Tensor values)
    {
        var g = _groups[site];
        var picked = values.flatten(1).index_select(1, g.Flat);
        return zeros([values.shape[0], g.Members.Length], dtype: values.dtype, device: values.device).index_add_(1, g.Owner, picked, 1);
    }

    /// <summary>Σ_j weights[b, j]·mask_j over the members of <paramref name="site"/>: [B, site…].</summary>
    public Tensor Spread(Site site, Tensor weights)
    {
        var g = _groups[site];
        long size = g.Shape.Aggregate(1L, (a, b) => a * b);
        var spread = zeros([weights.shape[0], size], dtype: weights.dtype, device: weights.device)
            .index_add_(1, g.Flat, weights.index_select(1, g.Owner), 1);
        return spread.view([weights.shape[0], .. g.Shape]);
    }

    /// <summary>0/1 masks [rows, site…]: row i selects component <paramref name="rowComponents"/>[i] where it is at <paramref name="site"/>, else nothing.</summary>
    public Tensor Rows(Site site, IReadOnlyList<int> rowComponents, ScalarType dtype, Device device)
    {
        var g = _groups[site];
        var oneHot = new float[rowComponents.Count * g.Members.Length];
        for (int i = 0; i < rowComponents.Count; i++)
            if (g.Slot.TryGetValue(rowComponents[i], out int j)) oneHot[i * g.Members.Length + j] = 1;
        return Spread(site, tensor(oneHot, [rowComponents.Count, g.Members.Length], device: device).to_type(dtype));
    }

    /// <summary>Per component, the sum over its slice of <paramref name="perSite"/>(site), a batch-1 tensor [1, site…].</summary>
    public double[] Sums(Func<Site, Tensor> perSite)
    {
        using var scope = NewDisposeScope();
        var result = new double[Components.Count];
        foreach (var (site, g) in _groups)
        {
            var sums = SumOver(site, perSite(site))[0].to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            for (int j = 0; j < g.Members.Length; j++) result[g.Members[j]] = sums[j];
        }
        return result;
    }

    /// <summary>Frees the index tensors.</summary>
    public void Dispose()
    {
        foreach (var g in _groups.Values)
        {
            g.Owner.Dispose();
            g.Flat.Dispose();
        }
    }
}

/// <summary>
/// <see cref="ComponentMasks"/> per prompt length, each built on first use: masks depend on the length only, so every
/// stage and pair of one length shares one index.
/// </summary>
internal sealed class ComponentMasksByLength(IReadOnlyList<Component> components, ModelConfig config, Device device) : IDisposable
{
    private readonly Dictionary<int, ComponentMasks> _masks = [];

    /// <summary>The masks for prompts of <paramref name="length"/> tokens.</summary>
    public ComponentMasks For(int length)
    {
        if (!_masks.TryGetValue(length, out var masks))
            _masks[length] = masks = new ComponentMasks(components, config, length, device);
        return masks;
    }

    /// <summary>Frees every length's index tensors.</summary>
    public void Dispose()
    {
        foreach (var masks in _masks.Values) masks.Dispose();
    }
}
