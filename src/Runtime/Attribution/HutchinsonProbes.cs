using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// A cheap curvature screen for all components at once: with random signs s ∈ {±1}^C and the joint direction
/// v = Σ_c s_c δ_c, s_c δ_cᵀ(Hv)_c has expectation δ_cᵀH_cδ_c over s (Hutchinson 1989); off-diagonal blocks add
/// variance, never bias; more probes, less noise (the budget knob). Hv comes from finite differences of gradients,
/// (∇M(a + εv) − ∇M(a))/ε, so a probe is one more row of a forward and a plain backward — by default rows of AtP's
/// own pass (<see cref="PairState.BuildMany"/>), else a pass of its own (<see cref="Curvature"/>). A double backward per probe
/// cost twice as much on GPT-2 small (measured); the screen only ranks, so O(ε) truncation is noise to it.
/// </summary>
internal sealed class HutchinsonProbes
{
    /// <summary>
    /// ε, relative to the patch δ. Third-order terms bias Hv by O(ε), fp32 rounding of the gradients adds O(10⁻⁷/ε):
    /// at 10⁻³ single-component estimates are within 2 % of the exact curvature (tests, six architectures) and the
    /// screen within 0.7 % of its double-backward version; 10⁻² gave up to 6 %, and at 10⁻⁴ rounding took over.
    /// </summary>
    public const double Step = 1e-3;

    private readonly Tensor _signs; // [probes, components], ±1

    /// <summary>Draws <paramref name="count"/> sign vectors for the components of <paramref name="masks"/>.</summary>
    public HutchinsonProbes(ComponentMasks masks, int count, long seed)
    {
        Masks = masks;
        Count = count;
        var generator = new Generator((ulong)seed);
        _signs = (rand([count, masks.Components.Count], generator: generator) < 0.5).to_type(ScalarType.Float32) * 2 - 1;
    }

    /// <summary>The components probed.</summary>
    public ComponentMasks Masks { get; }

    /// <summary>Number of probes.</summary>
    public int Count { get; }

    /// <summary>
    /// Estimates ½δ_cᵀH_cδ_c for every component in passes of their own: each chunk of probes shares its batch with
    /// an unperturbed reference row, so rounding common to the batch cancels in the difference.
    /// </summary>
    public double[] Curvature(HookedTransformer model, PairState pair, int maxRows, CostLedger cost)
    {
        var sums = new double[Masks.Components.Count];
        int perChunk = Math.Max(1, maxRows - 1);
        for (int from = 0; from < Count; from += perChunk)
        {
            int p = Math.Min(perChunk, Count - from);
            var partial = cost.Measure("screen.hutchinson", forwards: 1, backwards: 1, rows: p + 1, () => Chunk(model, pair, from, p));
            for (int c = 0; c < sums.Length; c++) sums[c] += partial[c];
        }
        return Finish(sums);
    }

    /// <summary>
    /// Interventions that make the probe rows of a pass the probes, each pair's in turn (see
    /// <see cref="PairState.BuildMany"/>), in a pass that runs positions <paramref name="fromPosition"/>… . The pass's
    /// rows are [cleans (k), corrupteds (k), probes…], or, when the corrupted prompts ran apart, [cleans (k), probes…] with
    /// <paramref name="corrupted"/> their activations at every site ([k, site…], full length). Every pair's probes must
    /// index the same components.
    /// </summary>
    public static IEnumerable<Intervention> InPairPass(IReadOnlyList<HutchinsonProbes> probes, ScalarType dtype, Device device, int fromPosition = 0,
        IReadOnlyDictionary<Site, Tensor>? corrupted = null)
    {
        long[] pairOfRow = [.. probes.SelectMany((x, i) => Enumerable.Repeat((long)i, x.Count))];
        var pairs = tensor(pairOfRow, device: device);
        return probes[0].Masks.Sites.Select(site =>
        {
            var steps = cat(probes.Select(x => x.Steps(site, 0, x.Count, dtype, device)).ToArray());
            int axis = SiteMask.Axes(site.Kind).Position;
            Tensor FromPosition(Tensor x) => x.narrow(axis, fromPosition, x.shape[axis] - fromPosition);
            return new StepAlongDelta(site, FromPosition(steps), probes.Count, pairs, corrupted is null ? null : FromPosition(corrupted[site]));
        });
    }

    /// <summary>
    /// The estimates from the gradients of a pass built by <see cref="InPairPass"/>: this pair's clean row is
    /// <paramref name="referenceRow"/>, its probes the rows from <paramref name="firstProbeRow"/> on.
    /// </summary>
    public double[] FromPairPass(IReadOnlyDictionary<Site, Tensor> gradients, int referenceRow, int firstProbeRow, IReadOnlyDictionary<Site, Tensor> delta)
    {
        var sums = new double[Masks.Components.Count];
        foreach (var site in Masks.Sites)
            Accumulate(site, 0, gradients[site].narrow(0, firstProbeRow, Count), gradients[site].narrow(0, referenceRow, 1), delta[site], sums);
        return Finish(sums);
    }

    private double[] Chunk(HookedTransformer model, PairState pair, int from, int p)
    {
        using var scope = NewDisposeScope();
        var sites = Masks.Sites.ToArray();
        int firstLayer = sites.Min(s => s.Layer);
        var plan = new HookPlan(model.Config) { TrimsLastLayer = true };
        // Row 0 the clean point a, row 1 + j the point a + ε·v_j.
        var offsets = sites.Select(site =>
        {
            var steps = Steps(site, from, p, model.DType, model.Device) * pair.Delta[site];
            return cat([zeros_like(steps.narrow(0, 0, 1)), steps]).requires_grad_();
        }).ToArray();
        for (int k = 0; k < sites.Length; k++) plan.Add(new AddOffset(sites[k], offsets[k]));

        var m = pair.Metric.Measure(model, pair.Clean.Repeat(0, p + 1), plan, start: pair.Resume(firstLayer, 0, p + 1)).sum();
        var grads = autograd.grad([m], offsets, retain_graph: false, allow_unused: true);
        var sums = new double[Masks.Components.Count];
        for (int k = 0; k < sites.Length; k++)
            if (grads[k] is { } g && !g.IsInvalid) // else the metric does not depend on this site
                Accumulate(sites[k], from, g.narrow(0, 1, p), g.narrow(0, 0, 1), pair.Delta[sites[k]], sums);
        return sums;
    }

    // ε·Σ_c s_jc mask_c at the site for probes [from, from + count): [count, site…]; times δ it is ε·v_j there.
    private Tensor Steps(Site site, int from, int count, ScalarType dtype, Device device) =>
        Masks.Spread(site, SiteSigns(site, from, count).to(dtype).to(device)) * Step;

    // Adds Σ_j s_jc · Σ over mask_c of δ ⊙ (Hv_j), with Hv_j = (g_j − g_ref)/ε.
    private void Accumulate(Site site, int from, Tensor probeGradients, Tensor referenceGradient, Tensor delta, double[] sums)
    {
        using var scope = NewDisposeScope();
        var hv = (probeGradients - referenceGradient) / Step;
        var signs = SiteSigns(site, from, (int)probeGradients.shape[0]).to(hv.dtype).to(hv.device);
        var perComponent = (Masks.SumOver(site, hv * delta) * signs).sum(dim: 0).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var members = Masks.Members(site);
        for (int j = 0; j < members.Length; j++) sums[members[j]] += perComponent[j];
    }

    private Tensor SiteSigns(Site site, int from, int count) =>
        _signs.narrow(0, from, count).index_select(1, tensor(Masks.Members(site).Select(i => (long)i).ToArray()));

    private double[] Finish(double[] sums) => [.. sums.Select(v => 0.5 * v / Count)];

    /// <summary>
    /// The probe rows of a pass step ε·Σ s mask ⊙ δ from their own activation, with their pair's δ read off its clean row
    /// and its corrupted row of the same pass, or <paramref name="corrupted"/> when the corrupted prompts ran apart
    /// (detached): AtP's runs and the probes share their passes. <paramref name="steps"/>: ε·Σ s mask per probe row;
    /// <paramref name="pairs"/>: k; <paramref name="pairOfRow"/>: each probe row's pair.
    /// </summary>
    private sealed class StepAlongDelta(Site site, Tensor steps, int pairs, Tensor pairOfRow, Tensor? corrupted) : Intervention(site)
    {
        public override Tensor Apply(Tensor activation)
        {
            var clean = activation.narrow(0, 0, pairs);
            var delta = ((corrupted ?? activation.narrow(0, pairs, pairs)) - clean).detach();
            int unstepped = corrupted is null ? 2 * pairs : pairs; // the rows before the probes
            return activation + cat([zeros_like(activation.narrow(0, 0, unstepped)), steps * delta.index_select(0, pairOfRow)]);
        }
    }
}
