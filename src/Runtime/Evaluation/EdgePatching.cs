using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>
/// The effect of one edge of a circuit: senders' change reaching receivers through one input only.
/// <see cref="Effect"/> is the mean metric change over pairs, <see cref="Gap"/> the mean M(x′) − M(x).
/// </summary>
/// <param name="Sender">The sending components (a group's name, or their ids).</param>
/// <param name="Receiver">The receiving components (a group's name, or their ids).</param>
/// <param name="Via">The receiving heads' input the edge enters.</param>
/// <param name="Effect">Mean over pairs of M(clean, edge patched) − M(clean).</param>
/// <param name="Gap">Mean over pairs of M(corrupted) − M(clean): what patching everything would move.</param>
/// <param name="IntoInput">True when the receivers are MLPs or the logits, which the edge enters at their input whatever
/// <paramref name="Via"/> says.</param>
public sealed record EdgeEffect(string Sender, string Receiver, PatchAt Via, double Effect, double Gap, bool IntoInput = false)
{
    /// <summary>The share of the clean-to-corrupted gap the edge alone moves (0 when there is no gap).</summary>
    public double Fraction => Gap == 0 ? 0 : Effect / Gap;

    /// <summary><see cref="Fraction"/> as a whole percentage for reports (one that rounds to zero prints <c>0 %</c>, not <c>-0 %</c>).</summary>
    public string Share => Fraction.ToString("0 %;-0 %;0 %", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The input the edge enters, for reports: query, key, value, or input (MLPs, the logits).</summary>
    public string Input => IntoInput ? "input" : Via.ToString().ToLowerInvariant();

    /// <inheritdoc />
    public override string ToString() => $"{Sender} → {Receiver} ({Input}): {Effect:+0.000;-0.000;0.000} of {Gap:+0.000;-0.000;0.000} ({Share})";
}

/// <summary>
/// Path patching of edges (Wang et al. 2022; Goldowsky-Dill et al. 2023). On the clean prompt, the senders' outputs
/// change as in the corrupted run, but that change reaches only the receivers' chosen input — a head's query, key or
/// value, an MLP's input, the logits' — through the residual stream directly; every other path stays clean, and the
/// receivers' change then flows on freely to the metric (into the logits: the senders' direct effect):
/// <list type="number">
/// <item>δ, the senders' change in the residual stream: for heads, the attention output with their <c>attn.z</c> taken
/// from the corrupted run minus the clean one (exact with Gemma-2's post-norms too); for MLPs, <c>mlp_out</c>'s
/// difference; for the embedding, <c>embed</c>'s;</item>
/// <item>the receivers' input recomputed from the clean residual stream plus δ (at <c>resid_pre</c> for heads, at
/// <c>resid_mid</c>, or <c>resid_pre</c> with parallel residuals, for MLPs, at the last <c>resid_post</c> for the
/// logits), read at <c>attn.q</c>/<c>k</c>/<c>v</c>, <c>mlp_out</c> or <c>final_norm</c>;</item>
/// <item>the clean run with only those entries replaced: M(edge) − M(clean).</item>
/// </list>
/// On grouped-query models a key or value edge into one head reaches every head sharing its key/value head.
/// </summary>
public sealed class EdgePatching
{
    private readonly HookedTransformer _model;
    private readonly IReadOnlyList<PromptPair> _pairs;
    private readonly MetricKind _metric;

    /// <summary>Prepares edge patching of <paramref name="model"/> on <paramref name="pairs"/>, measured by <paramref name="metric"/>.</summary>
    public EdgePatching(HookedTransformer model, IReadOnlyList<PromptPair> pairs, MetricKind metric = MetricKind.LogitDifference)
    {
        PromptPair.ValidateAll(pairs, model.Config.VocabSize, "Edge patching", metric);
        _model = model;
        _pairs = pairs;
        _metric = metric;
    }

    /// <summary>
    /// The effect of a circuit's declared edge, its groups looked up by name in <paramref name="groups"/>
    /// (<see cref="EdgeEnd.Embedding"/> and <see cref="EdgeEnd.Logits"/> name the embedding and the logits).
    /// </summary>
    public EdgeEffect Of(CircuitEdge edge, IEnumerable<ComponentGroup> groups)
    {
        var byName = groups.ToDictionary(g => g.Name);
        IReadOnlyList<Component> Members(string name) => name switch
        {
            EdgeEnd.Embedding => [new Component(ComponentKind.Embedding, 0)],
            EdgeEnd.Logits => [new Component(ComponentKind.Logits, 0)],
            _ when byName.TryGetValue(name, out var g) => [.. g.Components.Select(ExperimentRunner.ToComponent)],
            _ => throw new AttributionInputException($"The edge {edge.Sender} → {edge.Receiver} names '{name}', which is not one of the groups ({string.Join(", ", byName.Keys)}) nor {EdgeEnd.Embedding} or {EdgeEnd.Logits}."),
        };
        return Measure(Members(edge.Sender), Members(edge.Receiver), edge.Via) with { Sender = edge.Sender, Receiver = edge.Receiver };
    }

    /// <summary>
    /// The effect of the edge from <paramref name="senders"/> (the embedding, heads, MLPs) into
    /// <paramref name="receivers"/>: heads, through <paramref name="via"/> (Query, Key or Value); query, key or value
    /// components (<c>L4H2Q</c>, <c>L4H1K</c>), through themselves; MLPs and the logits, through their input
    /// (<paramref name="via"/> must not be Key or Value).
    /// Every sender must write before every receiver reads.
    /// </summary>
    public EdgeEffect Measure(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers, PatchAt via = PatchAt.Query) =>
        Measure(senders, receivers, via, scale: 1);

    /// <summary>As <see cref="Measure(IReadOnlyList{Component}, IReadOnlyList{Component}, PatchAt)"/> with δ scaled by
    /// <paramref name="scale"/>: effect(ε)/ε → the first-order estimate as ε → 0 (<see cref="EdgeAttribution"/>).</summary>
    internal EdgeEffect Measure(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers, PatchAt via, double scale)
    {
        Validate(senders, receivers, via);
        using var gc = GcPause.Enter();
        var inputs = receivers.Select(r => Input(r, via)).ToList();
        double effect = 0, gap = 0;
        // Equally long pairs run as one batch, a row each.
        using (no_grad())
            foreach (var group in _pairs.GroupBy(x => x.Clean.Count).SelectMany(g => g.Chunk(PairsPerBatch)))
            {
                using var scope = NewDisposeScope();
                var (e, g) = MeasureBatch(group, senders, inputs, scale);
                effect += e;
                gap += g;
            }
        string Names(IReadOnlyList<Component> cs) => string.Join(", ", cs.Select(c => c.Id));
        return new EdgeEffect(Names(senders), Names(receivers), via, effect / _pairs.Count, gap / _pairs.Count, receivers.All(r => r.Kind is ComponentKind.Mlp or ComponentKind.Logits));
    }

    // A receiver's input: where δ is added, where the recomputed input is read, and which entries it replaces there.
    private sealed record ReceiverInput(Site AddAt, Component Read);

    private ReceiverInput Input(Component receiver, PatchAt via)
    {
        var c = _model.Config;
        var addAt = EdgeEnds.Reads(receiver, c);
        if (receiver.Kind != ComponentKind.Head) return new(addAt, receiver);
        // A key or value head serves Heads / KvHeads query heads.
        int kv = receiver.Index / (c.Heads / c.KvHeads);
        var read = via switch
        {
            PatchAt.Query => receiver with { Kind = ComponentKind.Query },
            PatchAt.Key => receiver with { Kind = ComponentKind.Key, Index = kv },
            _ => receiver with { Kind = ComponentKind.Value, Index = kv },
        };
        return new(addAt, read);
    }

    // Pairs of one length per batch: the passes read the weights once for all of them.
    private const int PairsPerBatch = 16;

    // Sums over the batch's pairs of M(edge) − M(clean) and M(corrupted) − M(clean).
    private (double Effect, double Gap) MeasureBatch(PromptPair[] pairs, IReadOnlyList<Component> senders, IReadOnlyList<ReceiverInput> inputs, double scale)
    {
        var c = _model.Config;
        var device = _model.Device;
        int positions = pairs[0].Clean.Count;
        var clean = ModelInput.Batched([.. pairs.Select(x => x.Clean)], device: device);
        var metrics = AnswerMetric.ForPairs(_model, _metric, pairs);
        double Measure(ModelInput input, HookPlan? plan) =>
            AnswerMetric.MeasureEach(_model, input, metrics, plan).to_type(ScalarType.Float64).sum().item<double>();
        Tensor Mask(IEnumerable<Component> cs) =>
            cs.Select(x => x.Mask(c, positions, device)).Aggregate((a, b) => a + b).unsqueeze(0) > 0;

        // The senders' outputs in both runs, and the clean metric and attention outputs.
        var headLayers = senders.Where(s => s.Kind == ComponentKind.Head).Select(s => s.Layer).Distinct().ToList();
        var corruptedPlan = new HookPlan(c).Cache(senders.Select(s => s.Site).Distinct());
        double corruptedMetric = Measure(ModelInput.Batched([.. pairs.Select(x => x.Corrupted)], device: device), corruptedPlan);
        var cleanPlan = new HookPlan(c).Cache([.. headLayers.Select(l => new Site(SiteKind.AttnOut, l)),
            .. senders.Where(s => s.Kind != ComponentKind.Head).Select(s => s.Site).Distinct()]);
        double cleanMetric = Measure(clean, cleanPlan);

        // δ: each layer's sending heads patched together, their attention output's change; MLPs' and the embedding's own.
        var delta = zeros([pairs.Length, positions, c.Hidden], dtype: _model.DType, device: device);
        foreach (int layer in headLayers)
        {
            var heads = senders.Where(s => s.Kind == ComponentKind.Head && s.Layer == layer).ToList();
            var site = heads[0].Site;
            var attnOut = new Site(SiteKind.AttnOut, layer);
            var plan = new HookPlan(c).Add(new Replace(site, corruptedPlan[site], Mask(heads))).Cache(attnOut);
            _model.Forward(clean, plan);
            delta += plan[attnOut] - cleanPlan[attnOut];
        }
        foreach (var writer in senders.Where(s => s.Kind != ComponentKind.Head))
            delta += (corruptedPlan[writer.Site] - cleanPlan[writer.Site]) * writer.Mask(c, positions, device);

        // The receivers' inputs recomputed on the clean stream plus δ, one run per place δ enters.
        if (scale != 1) delta *= scale;
        var patched = new HookPlan(c);
        foreach (var group in inputs.GroupBy(x => x.AddAt))
        {
            var readSites = group.Select(x => x.Read.Site).Distinct().ToList();
            var plan = new HookPlan(c).Add(new AddOffset(group.Key, delta)).Cache(readSites);
            _model.Forward(clean, plan);
            foreach (var site in readSites)
                patched.Add(new Replace(site, plan[site], Mask(group.Select(x => x.Read).Where(r => r.Site == site))));
        }
        return (Measure(clean, patched) - cleanMetric, corruptedMetric - cleanMetric);
    }

    private void Validate(IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers, PatchAt via)
    {
        EdgeEnds.Check("Edge patching", senders, receivers, _model.Config);
        if (senders.Concat(receivers).GroupBy(x => x.Id).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new AttributionInputException($"Component {twice.Key} is listed twice among the edge's senders and receivers.");
        if (receivers.Any(r => r.Kind == ComponentKind.Head) && via == PatchAt.Output)
            throw new AttributionInputException("An edge enters a head through its query, key or value: pass PatchAt.Query, Key or Value, not Output.");
        if (receivers.FirstOrDefault(r => r.Kind is ComponentKind.Mlp or ComponentKind.Logits) is { } m && via is PatchAt.Key or PatchAt.Value)
            throw new AttributionInputException($"{m.Id} has no {via.ToString().ToLowerInvariant()} input: an edge enters {(m.Kind == ComponentKind.Mlp ? "an MLP" : "the logits")} through its input.");
        foreach (var s in senders)
            foreach (var r in receivers)
                if (!EdgeEnds.Precedes(s, r, _model.Config))
                    throw new AttributionInputException($"Edge {s.Id} → {r.Id}: the receiver reads its input before the sender writes; a sender must come earlier in the forward pass.");
    }
}
