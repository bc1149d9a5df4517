using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>One edge's first-order estimate: sender → a head's query, a key or value head, an MLP's input or the logits.</summary>
/// <param name="Sender">The embedding, a head or an MLP.</param>
/// <param name="Receiver">The input it enters: a query (<c>L4H2Q</c>), key (<c>L4H1K</c>) or value (<c>L4H1V</c>)
/// component — on grouped-query models a key or value head serves several query heads — an MLP, or the logits.</param>
/// <param name="Atp">Mean over pairs of δ_sᵀ ∂M/∂(the residual stream as the receiver's input reads it).</param>
public sealed record EdgeEstimate(Component Sender, Component Receiver, double Atp)
{
    /// <summary>The input the edge enters, for reports: query, key, value, or input (an MLP's).</summary>
    public string Input => Receiver.Kind switch
    {
        ComponentKind.Query => "query",
        ComponentKind.Key => "key",
        ComponentKind.Value => "value",
        _ => "input",
    };

    /// <inheritdoc />
    public override string ToString() => $"{Sender.Id} → {Receiver.Id}: {Atp:+0.000;-0.000;0.000}";
}

/// <summary>
/// Edge attribution patching (EAP; Syed et al. 2023): AtP for edges. For every sender s (the embedding, a head or an
/// MLP) and every receiver input r at once — a head's query, key or value, an MLP's input, the logits' — δ_sᵀ g_r,
/// with δ_s the sender's change in the residual stream and g_r the gradient of the metric with respect to the residual
/// stream as r reads it (through its own norm and projection or MLP only; every other path held clean): the
/// first-order estimate of <see cref="EdgePatching"/>'s exact effect. A head input's g_r is the gradient at its query,
/// key or value taken back through its slice of the projection and the norm; an MLP's is the gradient at the residual
/// stream where it reads minus the gradient at the stream after it (which the skip path carries), less the attention's
/// share where attention reads the same stream (parallel residuals); the logits' is the gradient after the last layer.
/// A head's δ_s is its slice of <c>attn.result</c>, or, behind Gemma-2's post-attention norm, the attention output's
/// change when only its <c>attn.z</c> is corrupted.
/// Per pair: a corrupted forward, a clean forward and backward, and one backward through each receiving layer's
/// attention norm. Like AtP it can lie where the network bends: measure the edges that matter exactly with
/// <see cref="EdgePatching"/>.
/// </summary>
public sealed class EdgeAttribution
{
    private static readonly SiteKind[] Inputs = [SiteKind.AttnQ, SiteKind.AttnK, SiteKind.AttnV];
    private readonly HookedTransformer _model;
    private readonly IReadOnlyList<PromptPair> _pairs;
    private readonly MetricKind _metric;

    /// <summary>Prepares edge attribution of <paramref name="model"/> on <paramref name="pairs"/>, measured by <paramref name="metric"/>.</summary>
    public EdgeAttribution(HookedTransformer model, IReadOnlyList<PromptPair> pairs, MetricKind metric = MetricKind.LogitDifference)
    {
        PromptPair.ValidateAll(pairs, model.Config.VocabSize, "Edge attribution", metric);
        // A first-order screen would rank noise: the KL's gradient vanishes at the clean run.
        if (metric == MetricKind.KlDivergence)
            throw new AttributionInputException("Edge attribution is first order (δᵀg), and under kl the gradient at the clean run is 0, so every estimate would be 0: " +
                "measure named edges exactly by path patching (EdgePatching, or an experiment's declared [Edge]s), or screen edges with a token metric (logit_diff, prob_diff, logprob).");
        _model = model;
        _pairs = pairs;
        _metric = metric;
    }

    /// <summary>
    /// The estimate of every edge from <paramref name="senders"/> (the embedding, heads, MLPs) into the inputs of
    /// <paramref name="receivers"/> that come after them: a head's query and the key and value heads it reads (each
    /// once), the query, key or value component given, an MLP's input, or the logits. Edges against the forward order
    /// are left out.
    /// </summary>
    public IReadOnlyList<EdgeEstimate> Estimate(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers)
    {
        Validate(senders, receivers);
        using var gc = GcPause.Enter();
        int group = _model.Config.Heads / _model.Config.KvHeads;
        var inputs = receivers.SelectMany(r => r.Kind == ComponentKind.Head
            ? new[] { r with { Kind = ComponentKind.Query }, r with { Kind = ComponentKind.Key, Index = r.Index / group }, r with { Kind = ComponentKind.Value, Index = r.Index / group } }
            : [r]).Distinct().ToList();
        var edges = (from r in inputs from s in senders where EdgeEnds.Precedes(s, r, _model.Config) select (s, r)).ToList();
        var sums = new Dictionary<(Component, Component), double>();
        // Equally long pairs run as one batch, a row each.
        foreach (var batch in _pairs.GroupBy(x => x.Clean.Count).SelectMany(g => g.Chunk(PairsPerBatch(senders.Count, g.Key))))
        {
            using var scope = NewDisposeScope();
            foreach (var (sender, input, sum) in EstimateBatch(batch, senders, inputs))
                sums[(sender, input)] = sums.GetValueOrDefault((sender, input)) + sum;
        }
        return [.. edges.Select(e => new EdgeEstimate(e.s, e.r, sums[(e.s, e.r)] / _pairs.Count))];
    }

    // Pairs of one length per batch: up to 8, and their senders' δ ([B, S, T, D], the largest tensor held) within 256 MB.
    private int PairsPerBatch(int senders, int positions) =>
        (int)Math.Clamp((256L << 20) / ((long)senders * positions * _model.Config.Hidden * (_model.DType == ScalarType.Float64 ? 8 : 4)), 1, 8);

    // For each edge of the batch, the sum over its pairs of δ_sᵀ g_r.
    private List<(Component Sender, Component Input, double Sum)> EstimateBatch(PromptPair[] pairs, IReadOnlyList<Component> senders, IReadOnlyList<Component> inputs)
    {
        var c = _model.Config;
        var device = _model.Device;
        int positions = pairs[0].Clean.Count;
        // Products in the model's precision, at least float32 (float64 models keep float64).
        var dtype = _model.DType == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var metrics = AnswerMetric.ForPairs(_model, _metric, pairs);
        // Heads write attn.result (their slice; behind a post-attention norm their change is computed from attn.z),
        // MLPs mlp_out, the embedding embed.
        Site Writes(Component s) => s.Kind != ComponentKind.Head ? s.Site : new Site(c.PostNorms ? SiteKind.AttnZ : SiteKind.AttnResult, s.Layer);
        var senderSites = senders.Select(Writes).Distinct().ToList();
        var logits = inputs.Where(r => r.Kind == ComponentKind.Logits).ToList();
        var layered = inputs.Except(logits).ToList();
        var receiverLayers = layered.Select(r => r.Layer).Distinct().ToList();
        var mlpLayers = inputs.Where(r => r.Kind == ComponentKind.Mlp).Select(r => r.Layer).Distinct().ToList();
        // Layers whose attention's input gradients are needed: where head inputs receive, and with parallel residuals
        // where MLPs receive (the attention reads the same stream).
        var attentionLayers = inputs.Where(r => r.Kind is ComponentKind.Query or ComponentKind.Key or ComponentKind.Value || (r.Kind == ComponentKind.Mlp && c.ParallelResidual))
            .Select(r => r.Layer).Distinct().ToList();
        // The logits read the stream after the last layer, through the final norm alone.
        var final = new Site(SiteKind.ResidPost, c.Layers - 1);

        var corrupted = new HookPlan(c).Cache(senderSites);
        using (no_grad()) _model.Forward(ModelInput.Batched([.. pairs.Select(x => x.Corrupted)], device: device), corrupted);

        // One backward: the metric's gradient at those layers' queries, keys and values, around receiving MLPs, and
        // after the last layer for the logits.
        var clean = new HookPlan(c).Cache(senderSites).Cache(attentionLayers.Select(l => new Site(SiteKind.ResidPre, l)));
        var offsets = new Dictionary<Site, Tensor>();
        var gradientSites = attentionLayers.SelectMany(l => Inputs.Select(kind => new Site(kind, l)))
            .Concat(mlpLayers.SelectMany(l => new[] { MlpReads(l), new Site(SiteKind.ResidPost, l) }))
            .Concat(logits.Count > 0 ? [final] : []).Distinct();
        foreach (var site in gradientSites)
        {
            offsets[site] = zeros([pairs.Length, .. site.Shape(c, positions)], dtype: _model.DType, device: device, requires_grad: true);
            clean.Add(new AddOffset(site, offsets[site]));
        }
        var m = AnswerMetric.MeasureEach(_model, ModelInput.Batched([.. pairs.Select(x => x.Clean)], device: device), metrics, clean).sum();
        var grads = autograd.grad([m], [.. offsets.Values], retain_graph: false, allow_unused: true);
        var gradient = offsets.Keys.Zip(grads, (site, g) => (site, g: g is { } t && !t.IsInvalid ? t.detach() : zeros_like(offsets[site]))).ToDictionary(x => x.site, x => x.g);

        // [T, 1]: selects one position (or all) along the position axis of [.., T, D].
        Tensor At(int? position) => (position is int p ? arange(positions, device: device).eq(p) : ones(positions, dtype: ScalarType.Bool, device: device))
            .unsqueeze(1).to_type(dtype);
        // δ_s in the residual stream, [B, T, D], zero outside a per-position sender's position.
        Tensor Delta(Component s)
        {
            var site = Writes(s);
            var d = s.Kind != ComponentKind.Head ? corrupted[site] - clean[site].detach()
                : c.PostNorms ? PostNormedHeadChange(s.Layer, s.Index, clean[site].detach(), corrupted[site])
                : (corrupted[site] - clean[site].detach()).select(2, s.Index);
            return d.to_type(dtype) * At(s.Position);
        }
        var deltas = stack([.. senders.Select(Delta)], 1);                                       // [B, S, T, D]

        Tensor MlpShare(int layer) => gradient[MlpReads(layer)] - gradient[new Site(SiteKind.ResidPost, layer)];
        var sums = new List<(Component, Component, double)>();
        foreach (int layer in receiverLayers)
        {
            // Per input read at this layer, ∂M/∂(the stream as it reads it), [B, T, D]: a head input's row of the
            // attention's gradients (query heads, then key heads, then value heads), an MLP's from the stream.
            var heads = attentionLayers.Contains(layer) ? ResidualGradients(layer, clean[new Site(SiteKind.ResidPre, layer)].detach(), gradient) : null;   // [B, H + 2G, T, D]
            Tensor Gradient(Component r) => r.Kind switch
            {
                ComponentKind.Query => heads!.select(1, r.Index),
                ComponentKind.Key => heads!.select(1, c.Heads + r.Index),
                ComponentKind.Value => heads!.select(1, c.Heads + c.KvHeads + r.Index),
                // The skip path carries the gradient after the MLP; with parallel residuals the attention reads the same stream.
                _ => c.ParallelResidual ? MlpShare(layer) - heads!.sum(1) : MlpShare(layer),
            };
            var into = layered.Where(r => r.Layer == layer).ToList();
            // Head inputs read the layer's residual input; a sequential MLP reads later, after more senders wrote.
            foreach (var group in into.GroupBy(r => r.Kind == ComponentKind.Mlp))
            {
                var receiving = group.ToList();
                var from = Enumerable.Range(0, senders.Count).Where(i => EdgeEnds.Precedes(senders[i], receiving[0], c)).ToArray();
                if (from.Length == 0) continue;
                Add(from, receiving, Gradient);
            }
        }
        // Every sender writes before the logits read.
        if (logits.Count > 0) Add([.. Enumerable.Range(0, senders.Count)], logits, _ => gradient[final]);
        return sums;

        // δ_sᵀ g_r for each sender from[s] and each receiving r, g_r = gradientOf(r) [B, T, D], summed over pairs.
        void Add(int[] from, List<Component> receiving, Func<Component, Tensor> gradientOf)
        {
            var g = stack([.. receiving.Select(r => gradientOf(r).to_type(dtype) * At(r.Position))], 1);                 // [B, N, T, D]
            var d = deltas.index_select(1, tensor(from.Select(i => (long)i).ToArray(), device: device));              // [B, S, T, D]
            var values = einsum("bstd,bntd->sn", d, g).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            for (int si = 0; si < from.Length; si++)
                for (int n = 0; n < receiving.Count; n++)
                    sums.Add((senders[from[si]], receiving[n], values[si * receiving.Count + n]));
        }
    }

    // A head's change in the residual stream behind a post-attention norm (Gemma-2), which mixes the heads' writes: the
    // attention output with only that head's z [B, T, H, d] from the corrupted run, minus the clean one (as EdgePatching's δ).
    private Tensor PostNormedHeadChange(int layer, int head, Tensor cleanZ, Tensor corruptedZ)
    {
        var block = _model.Layer(layer);
        Tensor Output(Tensor z) => block.AttentionPostNorm!.Forward(block.Attention.Output.Forward(z.flatten(2)));
        using var _ = no_grad();
        var only = zeros(cleanZ.shape[2], dtype: cleanZ.dtype, device: cleanZ.device).index_fill_(0, tensor(new long[] { head }, device: cleanZ.device), 1).view(1, 1, -1, 1);
        return Output(cleanZ + (corruptedZ - cleanZ) * only) - Output(cleanZ);
    }

    // Where a layer's MLP reads the residual stream.
    private Site MlpReads(int layer) => EdgeEnds.Reads(new Component(ComponentKind.Mlp, layer), _model.Config);

    // ∂M/∂(the residual stream as each query, key and value head of a layer reads it), [B, H + 2G, T, D]: the input
    // gradients back through the head's slice of the projection, then the norm (one backward for all heads).
    private Tensor ResidualGradients(int layer, Tensor resid, Dictionary<Site, Tensor> gradient)
    {
        var c = _model.Config;
        var attention = _model.Layer(layer).Attention;
        var cotangents = Inputs.Select(kind =>
        {
            var g = gradient[new Site(kind, layer)];                                      // [B, T, heads, d]
            var w = attention.Input(kind).Weight.view(g.shape[2], c.HeadDim, c.Hidden);   // [heads, d, D]
            return einsum("bthd,hdm->bhtm", g, w);
        }).ToArray();
        var cotangent = cat(cotangents, 1);                                                // [B, H + 2G, T, D]
        long b = cotangent.shape[0], n = cotangent.shape[1];
        var x = resid.unsqueeze(1).expand(b, n, -1, -1).reshape(b * n, resid.shape[1], resid.shape[2]).clone().requires_grad_(true);
        using var _ = enable_grad();
        var y = _model.Layer(layer).AttentionNorm.Forward(x);
        return autograd.grad([y], [x], [cotangent.reshape(y.shape).to_type(y.dtype)], retain_graph: false)[0].detach().view(cotangent.shape);
    }

    private void Validate(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers)
    {
        EdgeEnds.Check("Edge attribution", senders, receivers, _model.Config);
        if (senders.GroupBy(x => x.Id).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new AttributionInputException($"Sender {twice.Key} is listed twice.");
        foreach (var x in senders.Concat(receivers).Where(x => x.Position is int p && _pairs.Any(pair => p >= pair.Clean.Count)))
            throw new AttributionInputException($"Component {x.Id} selects a position beyond a pair's prompt.");
    }
}
