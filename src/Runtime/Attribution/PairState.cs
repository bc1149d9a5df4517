using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// What every estimator needs about one prompt pair, computed once with 2 forwards + 1 backward (the cost of AtP):
/// clean residual streams (so later rows start at the component's layer), clean activations, δ = a′ − a and the
/// clean gradient g at every component site; optionally the corrupted-run gradient g′ and the Hutchinson screen.
/// Several pairs share these passes as batch rows (<see cref="BuildMany"/>).
/// </summary>
internal sealed class PairState
{
    private PairState(ModelInput clean, AnswerMetric metric) { Clean = clean; Metric = metric; }

    public ModelInput Clean { get; }
    public AnswerMetric Metric { get; }
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

    /// <summary>What jets at t = 0 take from the clean run, when recorded: its adjoint at every non-linear operation
    /// (where they retire ẍ) and every linear map's output (their value).</summary>
    public CleanRunRecord? CleanRecord { get; private set; }

    /// <summary>Bytes the state keeps for the run: its rows of the clean cache, δ, gradients and its record.</summary>
    public long Bytes => Kept.Sum(t => t.numel() * t.ElementSize) + (CleanRecord?.Bytes ?? 0);

    // The tensors the state keeps beside its record.
    private IEnumerable<Tensor> Kept =>
        new IEnumerable<Tensor>[] { ResidPre, CleanKeys, CleanValues, Delta.Values, CleanGradient.Values, CorruptedGradient.Values }.SelectMany(x => x);

    /// <summary>Frees every tensor the state keeps (a budget had no room for it); it is unusable after.</summary>
    public void Release()
    {
        foreach (var t in Kept) t.Dispose();
        ForgetCleanRecord();
    }

    /// <summary>Frees the clean run's record (a budget had no room for it); jets then compute what it held.</summary>
    public void ForgetCleanRecord()
    {
        CleanRecord?.Dispose();
        CleanRecord = null;
    }

    /// <summary>The Hutchinson screen's ½δ_cᵀH_cδ_c per component, when its probes rode in this pass.</summary>
    public double[]? HutchinsonCurvature { get; private set; }

    /// <summary>
    /// Where a run of <paramref name="rows"/> rows resumes from the clean cache: at <paramref name="layer"/>, and from
    /// <paramref name="position"/> on (earlier positions unchanged, their keys and values from the cache).
    /// </summary>
    public CachedStart Resume(int layer, long position, long rows) =>
        new(layer, ResidPre[layer].expand(rows, -1, -1), position, CleanKeys, CleanValues);

    /// <inheritdoc cref="PromptPair.FirstDifference"/>
    public int FirstDifference { get; private init; }

    /// <summary>|M(x) − M(x′)|, the scale R̃'s ε is relative to.</summary>
    public double Scale => Math.Abs(CleanMetric - CorruptedMetric);

    /// <summary>Runs one pair's passes; see <see cref="BuildMany"/>.</summary>
    public static PairState Build(HookedTransformer model, PromptPair pair, IReadOnlyCollection<Site> sites,
        BackwardModification? modification, bool corruptedGradient, CostLedger cost, out Dictionary<Site, Tensor>? modifiedGradient,
        HutchinsonProbes? probes = null, bool? batched = null, MetricKind metric = MetricKind.LogitDifference, bool recordCleanRun = false,
        bool gradients = true)
    {
        var state = BuildMany(model, [pair], sites, modification, corruptedGradient, cost, out var modified, probes is null ? null : [probes], batched,
            metric: metric, recordCleanRun: recordCleanRun, gradients: gradients)[0];
        modifiedGradient = modified?[0];
        return state;
    }

    /// <summary>
    /// Runs the passes of several equally long pairs together, one batch row per prompt: a pass over the weights
    /// serves them all, which is most of a pass's cost at short prompts (GPT-2 small, 16 tokens, 2 cores: AtP of six
    /// pairs 2.4× faster, with four probes each 1.4×). The corrupted prompts go first, in a forward; then the clean
    /// prompts and each pair's Hutchinson probes (<paramref name="probes"/>, when given) share a forward and backward
    /// that resumes after the pairs' shared prefix from the corrupted run's cache (equal to the clean run's there). The
    /// corrupted rows have no backward to share, and the prefix no pass of its own: GPT-2 shape, 16 tokens, 3 shared,
    /// with probes, 8 pairs 22 % faster than one pass of every row (7 % with 10 shared, the prefix run apart), one pair
    /// 1–2 %; without probes 8 pairs 23–25 % faster. When g′ needs the corrupted rows' backward, and by default for one
    /// pair without probes (its two rows 7 % faster in one pass: the one backward row spared costs less than another
    /// pass over the weights), every row shares one forward and backward, its prefix run apart when that saves work
    /// (<see cref="SharedPrefix"/>); <paramref name="batched"/> forces one pass (true) or the corrupted prompts' own (false).
    /// <paramref name="sharedPrefix"/> forces the choice (false: no prefix skipped). Rows are independent, so each pair's
    /// values are its own. Every pair is measured by <paramref name="metric"/>, or by its metric in
    /// <paramref name="pairMetrics"/> when made already (a rebuild keeps KL's clean distributions). With <paramref name="recordCleanRun"/> the
    /// clean rows' pass also keeps what jets at t = 0 take from it (<see cref="CleanRunRecord"/>): the backward's
    /// adjoints and the forward's linear outputs. Without <paramref name="gradients"/> there is no backward: the clean and
    /// corrupted prompts share one forward, enough for patching (its clean cache and δ), not for AtP. The passes' cost
    /// is booked under <paramref name="stage"/>.
    /// </summary>
    public static PairState[] BuildMany(HookedTransformer model, IReadOnlyList<PromptPair> pairs, IReadOnlyCollection<Site> sites,
        BackwardModification? modification, bool corruptedGradient, CostLedger cost, out Dictionary<Site, Tensor>?[]? modifiedGradients,
        IReadOnlyList<HutchinsonProbes>? probes = null, bool? batched = null, bool? sharedPrefix = null, MetricKind metric = MetricKind.LogitDifference,
        bool recordCleanRun = false, string stage = "atp", IReadOnlyList<AnswerMetric>? pairMetrics = null, bool gradients = true)
    {
        int k = pairs.Count;
        if (k == 0) throw new ArgumentException("At least one pair is needed.", nameof(pairs));
        if (pairs.Any(x => x.Clean.Count != pairs[0].Clean.Count)) throw new ArgumentException("Pairs that share passes must be equally long.", nameof(pairs));
        if (probes is not null && probes.Count != k) throw new ArgumentException($"{probes.Count} probe sets for {k} pairs.", nameof(probes));
        if (pairMetrics is not null && pairMetrics.Count != k) throw new ArgumentException($"{pairMetrics.Count} metrics for {k} pairs.", nameof(pairMetrics));
        if (!gradients && (modification is not null || corruptedGradient || probes is not null || recordCleanRun))
            throw new ArgumentException("GIM, g′, the probes and the clean run's record all need the backward that a state without gradients leaves out.", nameof(gradients));
        var c = model.Config;
        var device = model.Device;
        pairMetrics ??= AnswerMetric.ForPairs(model, metric, pairs, cost);
        var states = pairs.Select((x, i) => new PairState(ModelInput.Single(x.Clean, device), pairMetrics[i]) { FirstDifference = x.FirstDifference }).ToArray();
        var metrics = states.Select(x => x.Metric).ToArray();
        var residSites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.ResidPre, l)).ToList();
        var keySites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.AttnK, l)).ToList();
        var valueSites = Enumerable.Range(0, c.Layers).Select(l => new Site(SiteKind.AttnV, l)).ToList();
        // The passes' tensors are freed when they end, except what each pair keeps: copies of its rows and its record.
        using var scope = NewDisposeScope();
        List<Site> cleanCache = [.. residSites, .. keySites, .. valueSites];
        ModelInput Rows(IEnumerable<IReadOnlyList<int>> prompts) => ModelInput.Batched([.. prompts], device: device);
        // Every row of a pass is the same before the pairs' first difference: where the corrupted prompts run first, the
        // other rows resume after that prefix from their cache; where every row shares one pass, the prefix can run once
        // in a pass of its own, when that saves more than the extra pass over the weights costs.
        bool joint = corruptedGradient || (batched ?? (k == 1 && probes is null));
        int shared = sharedPrefix == false ? 0 : states.Min(x => x.FirstDifference);
        int probeRows = probes?.Sum(x => x.Count) ?? 0;
        bool prefixApart = sharedPrefix ?? shared * (joint ? 2 * k + probeRows : k) >= SharedPrefix.MinimumTokenRows;
        SharedPrefix? prefix = null;
        SharedPrefix? Prefix() => shared == 0 || !prefixApart ? null : prefix ??= SharedPrefix.Run(model, pairs, shared, cleanCache);
        long[] pairOfRow = [.. Enumerable.Range(0, k).Select(i => (long)i)];
        int[] probeCounts = probes?.Select(x => x.Count).ToArray() ?? new int[k];
        IEnumerable<IReadOnlyList<int>> ProbePrompts() => pairs.SelectMany((x, i) => Enumerable.Repeat(x.Clean, probeCounts[i]));
        IEnumerable<AnswerMetric> ProbeMetrics() => metrics.SelectMany((m, i) => Enumerable.Repeat(m, probeCounts[i]));
        IEnumerable<long> ProbePairs() => Enumerable.Range(0, k).SelectMany(i => Enumerable.Repeat((long)i, probeCounts[i]));
        string differentiatedStage = probes is null ? stage : stage + " + screen.hutchinson";

        Pass clean, dirty, differentiated;
        int probeRow;
        if (!gradients)
        {
            var both = cost.Measure(stage, forwards: 1, backwards: 0, rows: 2 * k, () => Run(model, Rows([.. pairs.Select(x => x.Clean), .. pairs.Select(x => x.Corrupted)]),
                [.. metrics, .. metrics], [.. sites.Union(cleanCache)], Prefix(), [.. pairOfRow, .. pairOfRow]));
            (clean, dirty, differentiated, probeRow) = (both, both.Skip(k), both, 0);
        }
        else if (joint)
        {
            var input = Rows([.. pairs.Select(x => x.Clean), .. pairs.Select(x => x.Corrupted), .. ProbePrompts()]);
            var extra = probes is null ? [] : HutchinsonProbes.InPairPass(probes, model.DType, device, Prefix()?.Length ?? 0);
            differentiated = cost.Measure(differentiatedStage, forwards: 1, backwards: 1, rows: input.Batch, () =>
                Differentiate(model, input, [.. metrics, .. metrics, .. ProbeMetrics()], sites, cleanCache, null, extra, Prefix(),
                    [.. pairOfRow, .. pairOfRow, .. ProbePairs()], recordCleanRun));
            (clean, dirty, probeRow) = (differentiated, differentiated.Skip(k), 2 * k);
        }
        else
        {
            // The corrupted prompts first, forward only; their cache up to the first difference is the clean prompts' too.
            dirty = cost.Measure(stage, forwards: 1, backwards: 0, rows: k, () =>
                Run(model, Rows(pairs.Select(x => x.Corrupted)), metrics, [.. sites.Union(cleanCache)], null, pairOfRow));
            var afterPrefix = shared == 0 ? null : SharedPrefix.Of(dirty.Activations, shared, c.Layers);
            var input = Rows([.. pairs.Select(x => x.Clean), .. ProbePrompts()]);
            var extra = probes is null ? [] : HutchinsonProbes.InPairPass(probes, model.DType, device, shared, dirty.Activations);
            differentiated = cost.Measure(differentiatedStage, forwards: 1, backwards: 1, rows: input.Batch, () =>
                Differentiate(model, input, [.. metrics, .. ProbeMetrics()], sites, cleanCache, null, extra, afterPrefix, [.. pairOfRow, .. ProbePairs()], recordCleanRun));
            (clean, probeRow) = (differentiated, k);
        }

        for (int i = 0; i < k; i++)
        {
            var state = states[i];
            state.Fill(clean.Row(i), dirty.Row(i), residSites, keySites, valueSites, sites, corruptedGradient);
            if (probes is not null)
            {
                state.HutchinsonCurvature = probes[i].FromPairPass(differentiated.Gradients, i, probeRow, state.Delta);
                probeRow += probes[i].Count;
            }
            state.KeepRows(scope);
            if (clean.Recorded is { } recorded)
                state.CleanRecord = CleanRunRecord.FromPass(recorded.Adjoints, recorded.Outputs, i, state.CleanKeys, state.CleanValues).KeepBeyond(scope);
        }

        modifiedGradients = null;
        if (modification is not null)
        {
            var modified = cost.Measure("gim", forwards: 1, backwards: 1, rows: k, () =>
                Differentiate(model, Rows(pairs.Select(x => x.Clean)), metrics, sites, [], modification, [], null, pairOfRow));
            modifiedGradients = [.. Enumerable.Range(0, k).Select(i => modified.Row(i).Gradients.ToDictionary(kv => kv.Key, kv => scope.MoveToOuter(kv.Value.clone())))];
        }
        return states;
    }

    // Copies of the pair's rows, moved out of the passes' scope: views of a batch would keep every row of it (the
    // corrupted ones', the probes') alive for the run — on the GPT-2 shape 93 MB a pair where its own take 9.4 with its record.
    private void KeepRows(DisposeScope scope)
    {
        Tensor Own(Tensor t) => scope.MoveToOuter(t.clone());
        ResidPre = [.. ResidPre.Select(Own)];
        CleanKeys = [.. CleanKeys.Select(Own)];
        CleanValues = [.. CleanValues.Select(Own)];
        foreach (var tensors in new[] { Delta, CleanGradient, CorruptedGradient })
            foreach (var site in tensors.Keys.ToArray()) tensors[site] = Own(tensors[site]);
    }

    // The pair's values from its clean and corrupted rows: metrics, the clean cache, g (and g′), δ.
    private void Fill(Pass clean, Pass dirty, List<Site> residSites, List<Site> keySites, List<Site> valueSites,
        IReadOnlyCollection<Site> sites, bool corruptedGradient)
    {
        CleanMetric = clean.Metric;
        ResidPre = residSites.Select(s => clean.Activations[s]).ToArray();
        CleanKeys = keySites.Select(s => clean.Activations[s]).ToArray();
        CleanValues = valueSites.Select(s => clean.Activations[s]).ToArray();
        foreach (var (s, g) in clean.Gradients) CleanGradient[s] = g;
        CorruptedMetric = dirty.Metric;
        if (corruptedGradient) foreach (var (s, g) in dirty.Gradients) CorruptedGradient[s] = g;

        foreach (var site in sites)
        {
            var delta = dirty.Activations[site] - clean.Activations[site];
            if (delta.isnan().any().item<bool>() || clean.Activations[site].isinf().any().item<bool>())
                throw new AttributionInputException($"NaN or infinite activations at {site}; check the model weights and inputs.");
            Delta[site] = delta;
        }
        if (!double.IsFinite(CleanMetric) || !double.IsFinite(CorruptedMetric))
            throw new AttributionInputException("The metric is NaN or infinite on the clean or corrupted prompt.");
    }

    private sealed record Pass(double[] Metrics, Dictionary<Site, Tensor> Activations, Dictionary<Site, Tensor> Gradients,
        Recording? Recorded = null)
    {
        public double Metric => Metrics[0];

        /// <summary>Batch row <paramref name="i"/> of a batched pass, keeping the batch dimension (size 1).</summary>
        public Pass Row(int i) => new([Metrics[i]], Slice(Activations, i, 1), Slice(Gradients, i, 1));

        /// <summary>The pass without its first <paramref name="rows"/> rows.</summary>
        public Pass Skip(int rows) => new(Metrics[rows..], Slice(Activations, rows, Metrics.Length - rows), Slice(Gradients, rows, Metrics.Length - rows));

        private static Dictionary<Site, Tensor> Slice(Dictionary<Site, Tensor> tensors, int from, int count) =>
            tensors.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, from, count));
    }

    // A recorded pass's adjoints (gradients with respect to its non-linear outputs) and linear outputs, every batch row.
    private sealed record Recording(IReadOnlyDictionary<(int, CurvaturePoint), Tensor> Adjoints, IReadOnlyDictionary<(int, LinearOutput), Tensor> Outputs);

    // One forward with zero offsets (requiring grad) at the sites, so one backward gives ∂M/∂a at every site (and, when
    // recorded, at every non-linear operation's output, beside every linear map's output: CleanRunRecord). With a
    // prefix the pass resumes after it, and its activations and gradients come back full length (see SharedPrefix.Pad).
    // The last layer runs the read position's query only (HookPlan.TrimsLastLayer; 7 % off six rows at 16 tokens): its
    // activations after the queries are zero at earlier positions, where neither g nor a patch reaches the metric.
    private static Pass Differentiate(HookedTransformer model, ModelInput input, IReadOnlyList<AnswerMetric> metrics, IReadOnlyCollection<Site> sites,
        IReadOnlyList<Site> alsoCache, BackwardModification? modification, IEnumerable<Intervention> interventions, SharedPrefix? prefix, long[] pairOfRow,
        bool recordCleanRun = false)
    {
        var capture = recordCleanRun ? CleanRunRecord.ForCapture() : null;
        var plan = new HookPlan(model.Config) { TrimsLastLayer = true, CleanRecord = capture }.Cache(sites).Cache(alsoCache);
        foreach (var intervention in interventions) plan.Add(intervention);
        var offsets = new Dictionary<Site, Tensor>();
        int t = (int)input.Positions;
        foreach (var site in sites)
        {
            var shape = site.Shape(model.Config, t);
            if (prefix is not null) shape[SiteMask.Axes(site.Kind).Position - 1] -= prefix.Length;
            var u = zeros([input.Batch, .. shape], dtype: model.DType, device: model.Device, requires_grad: true);
            offsets[site] = u;
            plan.Add(new AddOffset(site, u));
        }
        var m = AnswerMetric.MeasureEach(model, input, metrics, plan, modification, prefix?.Start(model, input, pairOfRow));
        var points = capture?.Outputs.ToArray() ?? [];
        var grads = autograd.grad([m.sum()], [.. offsets.Values, .. points.Select(p => p.Value)], retain_graph: false, allow_unused: true);
        Tensor Gradient(int i, Tensor offset) => grads[i] is { } g && !g.IsInvalid ? g.detach() : zeros_like(offset);
        var gradients = new Dictionary<Site, Tensor>();
        int i = 0;
        foreach (var site in offsets.Keys) gradients[site] = Gradient(i++, offsets[site]);
        // Adjoints and outputs stay as long as the pass ran (a suffix of the prompt when a prefix ran apart): jets align them.
        var recorded = capture is null ? null
            : new Recording(points.Select((p, j) => (p.Key, Gradient(offsets.Count + j, p.Value))).ToDictionary(x => x.Key, x => x.Item2), capture.LinearOutputs);
        // The kept outputs outlived their layers only for this backward (a cached site's tensor stays).
        foreach (var (_, output) in points)
            if (!plan.Cached.Values.Any(cached => ReferenceEquals(cached, output))) output.Dispose();
        var activations = plan.Cached.ToDictionary(kv => kv.Key, kv => kv.Value.detach());
        return prefix is null ? new Pass(Values(m), activations, gradients, recorded)
            : new Pass(Values(m), prefix.Pad(activations, pairOfRow), prefix.Pad(gradients, pairOfRow, zeroed: true), recorded);
    }

    private static Pass Run(HookedTransformer model, ModelInput input, IReadOnlyList<AnswerMetric> metrics, IReadOnlyCollection<Site> sites,
        SharedPrefix? prefix, long[] pairOfRow)
    {
        using var _ = no_grad(); // not inference_mode: δ built from these later enters autograd graphs
        var plan = new HookPlan(model.Config) { TrimsLastLayer = true }.Cache(sites);
        var m = AnswerMetric.MeasureEach(model, input, metrics, plan, start: prefix?.Start(model, input, pairOfRow));
        var activations = plan.Cached.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        return new Pass(Values(m), prefix is null ? activations : prefix.Pad(activations, pairOfRow), []);
    }

    /// <summary>
    /// The positions before every pair's first difference, run once over the clean prompts: every row of a pair's
    /// passes (clean, corrupted, probes) is the same there, so the differentiated passes resume after them from its
    /// keys and values — a prefix of p of T tokens takes p/T of each pass's work off. Outside the clean cache's sites,
    /// what a resumed pass leaves out is zero: δ there, and the gradient, which only ever meets δ (or, for query/key
    /// curvature, attention-pattern rows no patch changes).
    /// </summary>
    private sealed class SharedPrefix
    {
        private readonly Dictionary<Site, Tensor> _cache;
        private readonly int _layers;

        private SharedPrefix(int length, Dictionary<Site, Tensor> cache, int layers) { Length = length; _cache = cache; _layers = layers; }

        /// <summary>
        /// Prefix tokens × differentiated rows below which the prefix is not run apart: its pass reads every weight
        /// once, which at short prompts costs more than the positions it skips (GPT-2 small, 16 tokens, 2 cores,
        /// one pair with four probes: skipping 3 tokens (18) breaks even, 6 (36) is 9 % faster, 10 (60) 19 %; one pair
        /// without probes is slower at every length; eight pairs skipping 3 tokens 5 % slower (24), 11 % faster with
        /// probes (144)).
        /// </summary>
        public const int MinimumTokenRows = 32;

        /// <summary>Prefix length in tokens.</summary>
        public int Length { get; }

        /// <summary>Runs the first <paramref name="length"/> tokens of every clean prompt, caching <paramref name="sites"/> ([pair, length, …]).</summary>
        public static SharedPrefix Run(HookedTransformer model, IReadOnlyList<PromptPair> pairs, int length, IReadOnlyCollection<Site> sites)
        {
            using var _ = no_grad();
            var input = ModelInput.Batched([.. pairs.Select(x => x.Clean.Take(length).ToArray())], device: model.Device);
            var plan = new HookPlan(model.Config).Cache(sites);
            model.ForwardSelected(input, input.LastPositions(), [0], plan);
            return new SharedPrefix(length, plan.Cached.ToDictionary(kv => kv.Key, kv => kv.Value.clone()), model.Config.Layers);
        }

        /// <summary>
        /// The first <paramref name="length"/> positions of a pass over whole prompts that equal the clean ones there (the
        /// corrupted prompts, before the first difference): every site it cached, a row per pair.
        /// </summary>
        public static SharedPrefix Of(Dictionary<Site, Tensor> activations, int length, int layers) =>
            new(length, activations.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(SiteMask.Axes(kv.Key.Kind).Position, 0, length)), layers);

        /// <summary>Where a pass over <paramref name="input"/> resumes: layer 0, after the prefix, each row with its pair's keys and values.</summary>
        public CachedStart Start(HookedTransformer model, ModelInput input, long[] pairOfRow)
        {
            var rows = tensor(pairOfRow, device: model.Device);
            IReadOnlyList<Tensor> PerLayer(SiteKind kind) => [.. Enumerable.Range(0, _layers).Select(l => _cache[new Site(kind, l)].index_select(0, rows))];
            return new CachedStart(0, model.Embed(input, model.CreateState(input)), Length, PerLayer(SiteKind.AttnK), PerLayer(SiteKind.AttnV));
        }

        /// <summary>A resumed pass's tensors at full length: the prefix's values where it cached them (unless
        /// <paramref name="zeroed"/>), zeros elsewhere.</summary>
        public Dictionary<Site, Tensor> Pad(Dictionary<Site, Tensor> tensors, long[] pairOfRow, bool zeroed = false)
        {
            var rows = tensor(pairOfRow, device: tensors.Values.FirstOrDefault()?.device ?? CPU);
            return tensors.ToDictionary(kv => kv.Key, kv =>
            {
                var x = kv.Value;
                int axis = SiteMask.Axes(kv.Key.Kind).Position;
                var head = !zeroed && _cache.TryGetValue(kv.Key, out var cached) ? cached.index_select(0, rows)
                    : zeros([.. x.shape.Select((size, d) => d == axis ? Length : size)], dtype: x.dtype, device: x.device);
                return cat([head, x], axis);
            });
        }
    }

    private static double[] Values(Tensor metric) => metric.detach().to_type(ScalarType.Float64).cpu().data<double>().ToArray();
}
