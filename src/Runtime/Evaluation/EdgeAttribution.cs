using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>One edge's first-order estimate: sender → a head's query, or a key or value head.</summary>
/// <param name="Sender">A head or MLP.</param>
/// <param name="Receiver">The input it enters: a query (<c>L4H2Q</c>), key (<c>L4H1K</c>) or value (<c>L4H1V</c>)
/// component; on grouped-query models a key or value head serves several query heads.</param>
/// <param name="Atp">Mean over pairs of δ_sᵀ ∂M/∂(the residual stream as the receiver's input reads it).</param>
public sealed record EdgeEstimate(Component Sender, Component Receiver, double Atp)
{
    /// <summary>The input the edge enters.</summary>
    public PatchAt Via => Receiver.Kind switch { ComponentKind.Query => PatchAt.Query, ComponentKind.Key => PatchAt.Key, _ => PatchAt.Value };

    /// <inheritdoc />
    public override string ToString() => $"{Sender.Id} → {Receiver.Id}: {Atp:+0.000;-0.000}";
}

/// <summary>
/// Edge attribution patching (EAP; Syed et al. 2023): AtP for edges. For every sender s (a head or MLP) and every
/// receiver head r's query, key and value at once, δ_sᵀ g_r, with δ_s the sender's change in the residual stream and
/// g_r the gradient of the metric with respect to the residual stream as r's input reads it (its norm and projection
/// only; every other path held clean) — the first-order estimate of <see cref="EdgePatching"/>'s exact effect. Per
/// pair: a corrupted forward, a clean forward and backward, and one backward through each receiver layer's norm.
/// Like AtP it can lie where the network bends: measure the edges that matter exactly with <see cref="EdgePatching"/>.
/// </summary>
public sealed class EdgeAttribution
{
    private static readonly SiteKind[] Inputs = [SiteKind.AttnQ, SiteKind.AttnK, SiteKind.AttnV];
    private readonly HookedTransformer _model;
    private readonly IReadOnlyList<PromptPair> _pairs;

    /// <summary>Prepares edge attribution of <paramref name="model"/> on <paramref name="pairs"/>.</summary>
    public EdgeAttribution(HookedTransformer model, IReadOnlyList<PromptPair> pairs)
    {
        if (pairs.Count == 0) throw new AttributionInputException("Edge attribution needs at least one prompt pair.");
        if (model.Config.PostNorms)
            throw new AttributionInputException("Edge attribution reads each head's write to the residual stream, which a post-attention norm (Gemma-2) mixes; measure edges with EdgePatching.");
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(model.Config.VocabSize, i);
        _model = model;
        _pairs = pairs;
    }

    /// <summary>
    /// The estimate of every edge from <paramref name="senders"/> (heads, MLPs) into the inputs of
    /// <paramref name="receivers"/> that come after them: a head's query and the key and value heads it reads (each
    /// once), or the query, key or value component given. Edges against the forward order are left out.
    /// </summary>
    public IReadOnlyList<EdgeEstimate> Estimate(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers)
    {
        Validate(senders, receivers);
        int group = _model.Config.Heads / _model.Config.KvHeads;
        var inputs = receivers.SelectMany(r => r.Kind == ComponentKind.Head
            ? new[] { r with { Kind = ComponentKind.Query }, r with { Kind = ComponentKind.Key, Index = r.Index / group }, r with { Kind = ComponentKind.Value, Index = r.Index / group } }
            : [r]).Distinct().ToList();
        // A head's inputs read its layer's residual input, which every earlier layer wrote.
        var edges = (from r in inputs from s in senders where s.Layer < r.Layer select (s, r)).ToList();
        var sums = new double[edges.Count];
        foreach (var pair in _pairs)
        {
            using var scope = NewDisposeScope();
            var values = EstimatePair(pair, senders, receivers, edges);
            for (int e = 0; e < edges.Count; e++) sums[e] += values[e];
        }
        return [.. edges.Select((e, i) => new EdgeEstimate(e.s, e.r, sums[i] / _pairs.Count))];
    }

    private double[] EstimatePair(PromptPair pair, IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers,
        List<(Component Sender, Component Input)> edges)
    {
        var c = _model.Config;
        var device = _model.Device;
        int positions = pair.Clean.Count;
        var metric = new LogitDifference(pair.Answer, pair.Wrong);
        // Heads write attn.result (their slice), MLPs mlp_out.
        Site Writes(Component s) => s.Kind == ComponentKind.Head ? new Site(SiteKind.AttnResult, s.Layer) : s.Site;
        var senderSites = senders.Select(Writes).Distinct().ToList();
        var receiverLayers = receivers.Select(r => r.Layer).Distinct().ToList();

        var corrupted = new HookPlan(c).Cache(senderSites);
        using (no_grad()) _model.Forward(ModelInput.Single(pair.Corrupted, device), corrupted);

        // One backward: the metric's gradient at every receiver layer's queries, keys and values.
        var clean = new HookPlan(c).Cache(senderSites).Cache(receiverLayers.Select(l => new Site(SiteKind.ResidPre, l)));
        var offsets = new Dictionary<Site, Tensor>();
        foreach (int layer in receiverLayers)
            foreach (var kind in Inputs)
            {
                var site = new Site(kind, layer);
                offsets[site] = zeros([1, .. site.Shape(c, positions)], dtype: _model.DType, device: device, requires_grad: true);
                clean.Add(new AddOffset(site, offsets[site]));
            }
        var m = metric.Measure(_model, ModelInput.Single(pair.Clean, device), clean).sum();
        var grads = autograd.grad([m], [.. offsets.Values], retain_graph: false, allow_unused: true);
        var gradient = offsets.Keys.Zip(grads, (site, g) => (site, g: g is { } t && !t.IsInvalid ? t.detach() : zeros_like(offsets[site]))).ToDictionary(x => x.site, x => x.g);

        // δ_s in the residual stream, [T, D], zero outside a per-position sender's position.
        Tensor Delta(Component s)
        {
            var site = Writes(s);
            var d = (corrupted[site] - clean[site].detach())[0];
            if (s.Kind == ComponentKind.Head) d = d.select(1, s.Index);
            return s.Position is int p ? d * arange(positions, device: device).eq(p).unsqueeze(1).to_type(d.dtype) : d;
        }
        var deltas = senders.ToDictionary(s => s, Delta);

        var inputGradients = receiverLayers.ToDictionary(l => l, l => ResidualGradients(l, clean[new Site(SiteKind.ResidPre, l)].detach()[0], gradient));
        var values = new double[edges.Count];
        for (int e = 0; e < edges.Count; e++)
        {
            var (s, r) = edges[e];
            // Rows of the layer's gradients: query heads, then key heads, then value heads.
            int row = r.Kind switch { ComponentKind.Query => r.Index, ComponentKind.Key => c.Heads + r.Index, _ => c.Heads + c.KvHeads + r.Index };
            var (d, g) = (deltas[s], inputGradients[r.Layer][row]);
            if (r.Position is int p) (d, g) = (d.narrow(0, p, 1), g.narrow(0, p, 1));
            values[e] = (d.to_type(ScalarType.Float64) * g.to_type(ScalarType.Float64)).sum().item<double>();
        }
        return values;
    }

    // ∂M/∂(the residual stream as each query, key and value head of a layer reads it), [H + 2G, T, D]: the input
    // gradients back through the head's slice of the projection, then the norm (one backward for all heads).
    private Tensor ResidualGradients(int layer, Tensor resid, Dictionary<Site, Tensor> gradient)
    {
        var c = _model.Config;
        var attention = _model.Layer(layer).Attention;
        var cotangents = Inputs.Select(kind =>
        {
            var g = gradient[new Site(kind, layer)][0];                                   // [T, heads, d]
            var w = attention.Input(kind).Weight.view(g.shape[1], c.HeadDim, c.Hidden);   // [heads, d, D]
            return einsum("thd,hdm->htm", g, w);
        }).ToArray();
        var cotangent = cat(cotangents);                                                   // [H + 2G, T, D]
        var x = resid.unsqueeze(0).expand(cotangent.shape[0], -1, -1).clone().requires_grad_(true);
        using var _ = enable_grad();
        var y = _model.Layer(layer).AttentionNorm.Forward(x);
        return autograd.grad([y], [x], [cotangent.to_type(y.dtype)], retain_graph: false)[0].detach();
    }

    private void Validate(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers)
    {
        if (senders.Count == 0 || receivers.Count == 0)
            throw new AttributionInputException("Edge attribution needs at least one sender and one receiver.");
        foreach (var s in senders)
        {
            if (s.Kind is not (ComponentKind.Head or ComponentKind.Mlp))
                throw new AttributionInputException($"Edge attribution sends from heads and MLPs; {s.Id} is a {s.Kind} component.");
            s.Validate(_model.Config);
        }
        foreach (var r in receivers)
        {
            if (r.Kind is not (ComponentKind.Head or ComponentKind.Query or ComponentKind.Key or ComponentKind.Value))
                throw new AttributionInputException($"Edge attribution estimates edges into heads' queries, keys and values; {r.Id} is a {r.Kind} component (measure edges into MLPs with EdgePatching).");
            r.Validate(_model.Config);
        }
        foreach (var x in senders.Concat(receivers).Where(x => x.Position is int p && _pairs.Any(pair => p >= pair.Clean.Count)))
            throw new AttributionInputException($"Component {x.Id} selects a position beyond a pair's prompt.");
    }

}
