using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// What every estimator needs about one prompt pair, computed once with 2 forwards + 1 backward (the cost of AtP):
/// clean residual streams (so later rows start at the component's layer), clean activations, δ = a′ − a and the
/// clean gradient g at every component site; optionally the corrupted-run gradient g′ and the Hutchinson screen. The
/// corrupted run (and any probes) joins the clean run's forward and backward as batch rows when g′ or the probes need
/// it; otherwise it is a forward of its own, which costs no backward.
/// </summary>
internal sealed class PairState
{
    private PairState(ModelInput clean, IMetric metric) { Clean = clean; Metric = metric; }

    public ModelInput Clean { get; }
    public IMetric Metric { get; }
    public double CleanMetric { get; private set; }
    public double CorruptedMetric { get; private set; }
    public Tensor[] ResidPre { get; private set; } = [];

    /// <summary>Clean keys and values per layer (as hooked, before rotary), for runs that resume at a later position.</summary>
    public Tensor[] CleanKeys { get; private set; } = [];

    /// <inheritdoc cref="CleanKeys"/>
    public Tensor[] CleanValues { get; private set; } = [];
    public Dictionary<Site, Tensor> Delta { get; } = [];
    public Dictionary<Site, Tensor> CleanGradient { get; } = [];
    public Dictionary<Site, Tensor> CorruptedGradient { get; } = [];

    /// <summary>The Hutchinson screen's ½δ_cᵀH_cδ_c per component, when its probes rode in this pass.</summary>
    public double[]? HutchinsonCurvature { get; private set; }

    /// <summary>
    /// Where a run of <paramref name="rows"/> rows resumes from the clean cache: at <paramref name="layer"/>, and from
    /// <paramref name="position"/> on (earlier positions unchanged, their keys and values from the cache).
    /// </summary>
    public CachedStart Resume(int layer, long position, long rows) =>
        new(layer, ResidPre[layer].expand(rows, -1, -1), position, CleanKeys, CleanValues);

    /// <summary>|M(x) − M(x′)|, the scale R̃'s ε is relative to.</summary>
    public double Scale => Math.Abs(CleanMetric - CorruptedMetric);

    /// <summary>
    /// Runs the pair's passes. <paramref name="batched"/> puts both prompts in one pass even when neither g′ nor the
    /// probes need it. Not the default: with small projections computed as (W xᵀ)ᵀ (<see cref="Projection"/>) a
    /// one-row forward got cheap enough that two passes are as fast or 1–4 % faster at 8–32 tokens (GPT-2 small, 2
    /// cores, alternating runs; one two-row pass had been 7–12 % faster at 8–16 tokens before).
    /// </summary>
    public static PairState Build(HookedTransformer model, PromptPair pair, IReadOnlyCollection<Site> sites,
        BackwardModification? modification, bool corruptedGradient, CostLedger cost, out Dictionary<Site, Tensor>? modifiedGradient,
        HutchinsonProbes? probes = null, bool batched = false)
    {
        var c = model.Config;
        var device = model.Device;
        var state = new PairState(ModelInput.Single(pair.Clean, device), new LogitDifference(pair.Answer, pair.Wrong));
        var corrupted = ModelInput.Single(pair.Corrupted, device);
        var residSites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.ResidPre, l)).ToList();
        var keySites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.AttnK, l)).ToList();
        var valueSites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.AttnV, l)).ToList();
        List<Site> cleanCache = [.. residSites, .. keySites, .. valueSites];

        Pass clean, dirty;
        Pass? pairPass = null;
        if (corruptedGradient || probes is not null || batched)
        {
            // Both runs (and any probes) in one batch (a pair's prompts are equally long): one pass over the weights
            // instead of several, which is most of a pass's cost at short prompts; the rows' gradients are independent.
            int probeRows = probes?.Count ?? 0;
            var input = ModelInput.Batched([pair.Clean, pair.Corrupted, .. Enumerable.Repeat(pair.Clean, probeRows)], device: device);
            var extra = probes?.InPairPass(model.DType, device) ?? [];
            pairPass = cost.Measure(probes is null ? "atp" : "atp + screen.hutchinson", forwards: 1, backwards: 1, rows: 2 + probeRows, () =>
                Differentiate(model, input, state.Metric, sites, cleanCache, null, extra));
            (clean, dirty) = (pairPass.Row(0), pairPass.Row(1));
        }
        else
        {
            clean = cost.Measure("atp", forwards: 1, backwards: 1, rows: 1, () => Differentiate(model, state.Clean, state.Metric, sites, cleanCache, null, []));
            dirty = cost.Measure("atp", forwards: 1, backwards: 0, rows: 1, () => Run(model, corrupted, state.Metric, sites));
        }
        state.CleanMetric = clean.Metric;
        state.ResidPre = residSites.Select(s => clean.Activations[s]).ToArray();
        state.CleanKeys = keySites.Select(s => clean.Activations[s]).ToArray();
        state.CleanValues = valueSites.Select(s => clean.Activations[s]).ToArray();
        foreach (var (s, g) in clean.Gradients) state.CleanGradient[s] = g;
        state.CorruptedMetric = dirty.Metric;
        if (corruptedGradient) foreach (var (s, g) in dirty.Gradients) state.CorruptedGradient[s] = g;

        foreach (var site in sites)
        {
            var delta = dirty.Activations[site] - clean.Activations[site];
            if (delta.isnan().any().item<bool>() || clean.Activations[site].isinf().any().item<bool>())
                throw new AttributionInputException($"NaN or infinite activations at {site}; check the model weights and inputs.");
            state.Delta[site] = delta;
        }
        if (!double.IsFinite(state.CleanMetric) || !double.IsFinite(state.CorruptedMetric))
            throw new AttributionInputException("The metric is NaN or infinite on the clean or corrupted prompt.");
        state.HutchinsonCurvature = probes?.FromPairPass(pairPass!.Gradients, state.Delta);

        modifiedGradient = modification is null ? null : cost.Measure("gim", forwards: 1, backwards: 1, rows: 1, () =>
            Differentiate(model, state.Clean, state.Metric, sites, [], modification, []).Gradients);
        return state;
    }

    private sealed record Pass(double[] Metrics, Dictionary<Site, Tensor> Activations, Dictionary<Site, Tensor> Gradients)
    {
        public double Metric => Metrics[0];

        /// <summary>Batch row <paramref name="i"/> of a batched pass, keeping the batch dimension (size 1).</summary>
        public Pass Row(int i) => new([Metrics[i]], Slice(Activations, i), Slice(Gradients, i));

        private static Dictionary<Site, Tensor> Slice(Dictionary<Site, Tensor> tensors, int i) => tensors.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, i, 1));
    }

    // One forward with zero offsets (requiring grad) at the sites, so one backward gives ∂M/∂a at every site.
    private static Pass Differentiate(HookedTransformer model, ModelInput input, IMetric metric, IReadOnlyCollection<Site> sites,
        IReadOnlyList<Site> alsoCache, BackwardModification? modification, IEnumerable<Intervention> interventions)
    {
        var plan = new HookPlan(model.Config).Cache(sites).Cache(alsoCache);
        foreach (var intervention in interventions) plan.Add(intervention);
        var offsets = new Dictionary<Site, Tensor>();
        int t = (int)input.Positions;
        foreach (var site in sites)
        {
            var u = zeros([input.Batch, .. site.Shape(model.Config, t)], dtype: model.DType, device: model.Device, requires_grad: true);
            offsets[site] = u;
            plan.Add(new AddOffset(site, u));
        }
        var m = metric.Measure(model, input, plan, modification);
        var grads = autograd.grad([m.sum()], [.. offsets.Values], retain_graph: false, allow_unused: true);
        var gradients = new Dictionary<Site, Tensor>();
        int i = 0;
        foreach (var site in offsets.Keys)
            gradients[site] = grads[i++] is { } g && !g.IsInvalid ? g.detach() : zeros_like(offsets[site]);
        return new Pass(Values(m), plan.Cached.ToDictionary(kv => kv.Key, kv => kv.Value.detach()), gradients);
    }

    private static Pass Run(HookedTransformer model, ModelInput input, IMetric metric, IReadOnlyCollection<Site> sites)
    {
        using var _ = no_grad(); // not inference_mode: δ built from these later enters autograd graphs
        var plan = new HookPlan(model.Config).Cache(sites);
        var m = metric.Measure(model, input, plan);
        return new Pass(Values(m), plan.Cached.ToDictionary(kv => kv.Key, kv => kv.Value.clone()), []);
    }

    private static double[] Values(Tensor metric) => metric.detach().to_type(ScalarType.Float64).cpu().data<double>().ToArray();
}
