using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// A model part whose activation can be patched: a slice of one site. <paramref name="Position"/> restricts it to one
/// token position (ids get an <c>@p</c> suffix); null means all positions.
/// </summary>
public sealed record Component(ComponentKind Kind, int Layer, int Index = 0, int? Position = null)
{
    /// <summary>Stable id used in JSON, reports, assertions and generated code (DESIGN.md).</summary>
    public string Id => new ComponentRef(Kind, Layer, Index, Position ?? -1).Id;

    /// <summary>The site whose activation is patched.</summary>
    public Site Site => new(Kind switch
    {
        ComponentKind.Head => SiteKind.AttnZ,
        ComponentKind.Mlp => SiteKind.MlpOut,
        ComponentKind.Neuron => SiteKind.MlpPost,
        ComponentKind.Residual => SiteKind.ResidPre,
        ComponentKind.Query => SiteKind.AttnQ,
        ComponentKind.Key => SiteKind.AttnK,
        ComponentKind.Value => SiteKind.AttnV,
        ComponentKind.Embedding => SiteKind.Embed,
        ComponentKind.Logits => SiteKind.FinalNorm,
        _ => throw new InvalidOperationException(),
    }, Layer);

    /// <summary>The one prompt position the component selects (a residual component's index is its position), or null for all.</summary>
    public int? SelectedPosition => Kind == ComponentKind.Residual ? Index : Position;

    /// <summary>The earliest position its patch changes: no position before it differs from the clean run (causal attention).</summary>
    public int FirstPosition => SelectedPosition ?? 0;

    /// <summary>Checks the component against the model.</summary>
    public void Validate(ModelConfig c)
    {
        SiteValidation.EnsureExists(Site, c);
        int limit = Kind switch
        {
            ComponentKind.Head or ComponentKind.Query => c.Heads,
            ComponentKind.Key or ComponentKind.Value => c.KvHeads,
            ComponentKind.Neuron => c.Intermediate,
            ComponentKind.Residual => int.MaxValue,
            _ => 1,
        };
        if (Index < 0 || Index >= limit)
            throw new SiteOutOfRangeException($"Component {Id} is outside the model: index must be in 0..{limit - 1}.");
    }

    /// <summary>A 0/1 mask of the site's shape without batch (float, so it multiplies δ) selecting this component.</summary>
    public Tensor Mask(ModelConfig c, int positions, Device device)
    {
        var mask = zeros(Site.Shape(c, positions), dtype: ScalarType.Float32, device: device);
        Selected(c, positions, mask).fill_(1);
        return mask;
    }

    /// <summary>
    /// Row-major indices, within the site's activation without batch, of the entries this component selects, in
    /// ascending order: its position (if any) × its head (if any) × its neuron (if any) × everything else.
    /// </summary>
    public long[] FlatIndices(ModelConfig c, int positions)
    {
        using var scope = NewDisposeScope();
        var shape = Site.Shape(c, positions);
        return Selected(c, positions, arange(shape.Aggregate(1L, (a, b) => a * b)).view(shape)).flatten().data<long>().ToArray();
    }

    /// <summary>
    /// The view of <paramref name="site"/> (the site's activation without batch) holding the entries this component
    /// selects: the one definition behind <see cref="Mask"/>, <see cref="FlatIndices"/> and the engine's index masks.
    /// </summary>
    internal Tensor Selected(ModelConfig c, int positions, Tensor site)
    {
        Validate(c);
        if (SelectedPosition is int p && (p < 0 || p >= positions))
            throw new SiteOutOfRangeException($"Component {Id} selects position {p} but prompts have {positions} positions.");
        var (positionAxis, headAxis) = SiteMask.Axes(Site.Kind); // axes of the activation with batch
        var selected = site;
        if (SelectedPosition is int q) selected = selected.narrow(positionAxis - 1, q, 1);
        if (Kind is ComponentKind.Head or ComponentKind.Query or ComponentKind.Key or ComponentKind.Value) selected = selected.narrow(headAxis - 1, Index, 1);
        if (Kind == ComponentKind.Neuron) selected = selected.narrow(-1, Index, 1);
        return selected;
    }

    /// <summary>Parses an id (<c>L3H5</c>, <c>L2MLP</c>, <c>L1N17</c>, <c>L0R4</c>, <c>L3H5Q@7</c>, <c>embed</c>, <c>logits</c>).</summary>
    public static Component Parse(string id)
    {
        var end = System.Text.RegularExpressions.Regex.Match(id, @"^(embed|logits)(?:@(\d+))?$");
        if (end.Success)
            return new Component(end.Groups[1].Value == "embed" ? ComponentKind.Embedding : ComponentKind.Logits, 0, 0,
                end.Groups[2].Success ? int.Parse(end.Groups[2].Value) : null);
        var m = System.Text.RegularExpressions.Regex.Match(id, @"^L(\d+)(?:H(\d+)([QKV])?|(MLP)|N(\d+)|R(\d+))(?:@(\d+))?$");
        if (!m.Success)
            throw new FormatException($"'{id}' is not a component id; expected L{{layer}}H{{head}}, L{{layer}}MLP, L{{layer}}N{{neuron}}, L{{layer}}R{{position}}, optionally with Q/K/V after the head and @position, or embed or logits (edge ends).");
        int layer = int.Parse(m.Groups[1].Value);
        int? position = m.Groups[7].Success ? int.Parse(m.Groups[7].Value) : null;
        if (m.Groups[2].Success)
        {
            var kind = m.Groups[3].Value switch { "Q" => ComponentKind.Query, "K" => ComponentKind.Key, "V" => ComponentKind.Value, _ => ComponentKind.Head };
            return new Component(kind, layer, int.Parse(m.Groups[2].Value), position);
        }
        if (m.Groups[4].Success) return new Component(ComponentKind.Mlp, layer, 0, position);
        if (m.Groups[5].Success) return new Component(ComponentKind.Neuron, layer, int.Parse(m.Groups[5].Value), position);
        return new Component(ComponentKind.Residual, layer, int.Parse(m.Groups[6].Value));
    }

    /// <inheritdoc />
    public override string ToString() => Id;
}

/// <summary>Ready-made component sets.</summary>
public static class Components
{
    /// <summary>Every attention head.</summary>
    public static IReadOnlyList<Component> Heads(ModelConfig c) =>
        [.. from l in Enumerable.Range(0, c.Layers) from h in Enumerable.Range(0, c.Heads) select new Component(ComponentKind.Head, l, h)];

    /// <summary>Every MLP layer (none in attention-only models).</summary>
    public static IReadOnlyList<Component> Mlps(ModelConfig c) =>
        c.AttentionOnly ? [] : [.. Enumerable.Range(0, c.Layers).Select(l => new Component(ComponentKind.Mlp, l))];

    /// <summary>Every neuron of one layer.</summary>
    public static IReadOnlyList<Component> Neurons(ModelConfig c, int layer) =>
        [.. Enumerable.Range(0, c.Intermediate).Select(i => new Component(ComponentKind.Neuron, layer, i))];

    /// <summary>The residual stream entering every layer at every position.</summary>
    public static IReadOnlyList<Component> Residual(ModelConfig c, int positions) =>
        [.. from l in Enumerable.Range(0, c.Layers) from p in Enumerable.Range(0, positions) select new Component(ComponentKind.Residual, l, p)];

    /// <summary>Every head at every position.</summary>
    public static IReadOnlyList<Component> HeadsPerPosition(ModelConfig c, int positions) =>
        [.. from h in Heads(c) from p in Enumerable.Range(0, positions) select h with { Position = p }];

    /// <summary>Query, key and value inputs of every head.</summary>
    public static IReadOnlyList<Component> QueryKeyValue(ModelConfig c) =>
        [.. from l in Enumerable.Range(0, c.Layers)
            from kind in new[] { ComponentKind.Query, ComponentKind.Key, ComponentKind.Value }
            from h in Enumerable.Range(0, kind == ComponentKind.Query ? c.Heads : c.KvHeads)
            select new Component(kind, l, h)];

    /// <summary>Parses a comma-separated list of set names (<c>heads,mlps,neurons,resid,qkv,heads-pos</c>, and the edge
    /// ends <c>embed</c> and <c>logits</c>) or ids.</summary>
    public static IReadOnlyList<Component> Parse(string spec, ModelConfig c, int positions)
    {
        var list = new List<Component>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.AddRange(part switch
            {
                "heads" => Heads(c),
                "mlps" => Mlps(c),
                "neurons" => [.. Enumerable.Range(0, c.Layers).SelectMany(l => Neurons(c, l))],
                "resid" => Residual(c, positions),
                "qkv" => QueryKeyValue(c),
                "heads-pos" => HeadsPerPosition(c, positions),
                "embed" => [new Component(ComponentKind.Embedding, 0)],
                "logits" => [new Component(ComponentKind.Logits, 0)],
                _ => [Component.Parse(part)],
            });
        }
        return list;
    }
}
