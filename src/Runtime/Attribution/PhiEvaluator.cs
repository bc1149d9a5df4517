using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// One evaluation point: component <paramref name="Component"/> of pair <paramref name="Pair"/> (an index into the
/// evaluator's pairs) patched by the fraction <paramref name="T"/>.
/// </summary>
internal readonly record struct PhiRow(int Component, double T, int Pair = 0);

/// <summary>φ, φ′ and φ″ at each requested row (NaN where not requested).</summary>
internal sealed record PhiValues(double[] Phi, double[] First, double[] Second);

/// <summary>Something that yields φ, φ′, φ″ at rows (c, t): the model, or a closed-form function in tests.</summary>
internal interface IPhiFunction
{
    /// <summary>φ(0), the unpatched metric.</summary>
    double AtZero { get; }

    /// <summary>Evaluates the rows up to derivative <paramref name="order"/> (0, 1 or 2), charging <paramref name="method"/>.</summary>
    PhiValues Evaluate(IReadOnlyList<PhiRow> rows, int order, CostLedger cost, string method);
}

/// <summary>
/// The engine's one primitive (DESIGN.md): for rows (c, t), evaluate φ_c(t) = M(x with a_c ← a_c + t·δ_c) and, by
/// autograd w.r.t. the per-row vector t, φ′_c(t) and φ″_c(t). Rows are independent, so one backward of Σ_r φ_r gives
/// every φ′_r and one double backward of Σ_r φ′_r gives every φ″_r — or, by default for φ″, one Taylor-mode jet
/// forward gives φ, φ′ and φ″ together (<see cref="Jet"/>). Rows resume from the clean cache at the earliest layer
/// and earliest first position in their chunk: nothing upstream of a patch, and no earlier position, can change — nor
/// any position before the first token where the pair's prompts differ, where δ is zero.
/// Rows of several equally long pairs can share a chunk, so stages with few rows per pair read the weights once for
/// all pairs (<see cref="EvaluateEach"/>); <see cref="IPhiFunction"/> sees the first pair.
/// </summary>
internal sealed class PhiEvaluator(HookedTransformer model, IReadOnlyList<PairState> pairs, ComponentMasks masks, int maxRows, bool fromCache = true,
    SecondDerivative secondDerivative = SecondDerivative.TaylorMode) : IPhiFunction
{
    /// <summary>An evaluator of one pair's rows.</summary>
    public PhiEvaluator(HookedTransformer model, PairState pair, ComponentMasks masks, int maxRows, bool fromCache = true,
        SecondDerivative secondDerivative = SecondDerivative.TaylorMode) : this(model, [pair], masks, maxRows, fromCache, secondDerivative) { }

    public double AtZero => pairs[0].CleanMetric;

    /// <summary>The pairs whose rows this evaluator runs.</summary>
    public IReadOnlyList<PairState> Pairs => pairs;

    /// <summary>
    /// Per pair, φ and its derivatives up to <paramref name="order"/> at t = <paramref name="t"/> for each of
    /// <paramref name="components"/>: every pair's rows in the same chunks.
    /// </summary>
    public PhiValues[] EvaluateEach(IReadOnlyList<int> components, double t, int order, CostLedger cost, string method)
    {
        int n = components.Count;
        var all = Evaluate([.. Enumerable.Range(0, pairs.Count).SelectMany(j => components.Select(c => new PhiRow(c, t, j)))], order, cost, method);
        return [.. Enumerable.Range(0, pairs.Count).Select(j => (j * n)..((j + 1) * n)).Select(part => new PhiValues(all.Phi[part], all.First[part], all.Second[part]))];
    }

    private readonly IReadOnlyList<Component> components = masks.Components;

    public PhiValues Evaluate(IReadOnlyList<PhiRow> rows, int order, CostLedger cost, string method) => Evaluate(rows, order, cost, method, local: false);

    /// <summary>
    /// φ″ of the local part only, for query/key rows: M replaced by its linearisation downstream of the attention
    /// pattern, s(t) = Σ G ⊙ pattern(t) with G = ∂M/∂pattern at the clean run; so s″(0) is the curvature the softmax
    /// itself contributes, and φ″(0) − s″(0) is downstream curvature.
    /// </summary>
    public PhiValues EvaluateLocal(IReadOnlyList<PhiRow> rows, CostLedger cost, int order = 2, string method = "curvature.local") =>
        Evaluate(rows, order, cost, method, local: true);

    private PhiValues Evaluate(IReadOnlyList<PhiRow> rows, int order, CostLedger cost, string method, bool local)
    {
        var phi = new double[rows.Count];
        var first = Enumerable.Repeat(double.NaN, rows.Count).ToArray();
        var second = Enumerable.Repeat(double.NaN, rows.Count).ToArray();
        foreach (var chunk in Chunks(rows, order))
        {
            var chunkRows = chunk.Select(i => rows[i]).ToArray();
            var values = UsesJets(order, local)
                ? cost.Measure(method, forwards: 1, backwards: 0, rows: chunk.Length, () => EvaluateChunkByJets(chunkRows))
                : cost.Measure(method, forwards: 1, backwards: order, rows: chunk.Length, () => EvaluateChunk(chunkRows, order, local));
            for (int j = 0; j < chunk.Length; j++)
            {
                phi[chunk[j]] = values.Phi[j];
                first[chunk[j]] = values.First[j];
                second[chunk[j]] = values.Second[j];
            }
        }
        return new PhiValues(phi, first, second);
    }

    /// <summary>
    /// Rows sorted by layer and cut into chunks that start as late as possible. Forward-only chunks (jets included)
    /// close at a layer change once they hold a quarter of <c>maxRows</c>, so rows of late layers do not pay for the
    /// early layers of others; differentiated chunks stay full, where batching pays more than skipping layers (measured).
    /// </summary>
    private IEnumerable<int[]> Chunks(IReadOnlyList<PhiRow> rows, int order)
    {
        // By layer, then by first position: a chunk resumes at its earliest layer and position.
        var ordered = Enumerable.Range(0, rows.Count).OrderBy(i => components[rows[i].Component].Layer)
            .ThenBy(i => FirstPosition(rows[i])).ThenBy(i => rows[i].Component).ToArray();
        int minimum = order == 0 || UsesJets(order, local: false) ? Math.Max(1, maxRows / 4) : maxRows;
        // Jet chunks of several pairs' rows (EvaluateEach: a run of pairs per component) close after whole runs, so each
        // pair keeps one value row.
        int limit = UsesJets(order, local: false) && pairs.Count > 1 && pairs.Count <= maxRows ? maxRows / pairs.Count * pairs.Count : maxRows;
        var chunk = new List<int>();
        foreach (int i in ordered)
        {
            bool newLayer = chunk.Count > 0 && components[rows[i].Component].Layer != components[rows[chunk[^1]].Component].Layer;
            if (chunk.Count == limit || (newLayer && chunk.Count >= minimum))
            {
                yield return [.. chunk];
                chunk.Clear();
            }
            chunk.Add(i);
        }
        if (chunk.Count > 0) yield return [.. chunk];
    }

    private PhiValues EvaluateChunk(PhiRow[] rows, int order, bool local)
    {
        using var scope = NewDisposeScope();
        using var mode = order == 0 ? inference_mode() : null;
        var c = model.Config;
        int r = rows.Length;
        // From the clean cache at the chunk's earliest layer and position; fromCache = false re-runs everything
        // (benchmarks). Local rows read whole attention patterns, so they keep every position.
        var start = fromCache ? Start(rows, r, local) : null;
        long from = start?.Position ?? 0;
        var input = OnePair(rows) is { } pair ? pair.Clean.Repeat(0, r) : new ModelInput(cat(rows.Select(x => pairs[x.Pair].Clean.Ids).ToArray()));
        // t in the activations' dtype: float32 normally, float64 when a model is loaded in float64 for checks.
        var dtype = pairs[0].Delta.Values.First().dtype;
        var t = tensor(rows.Select(x => x.T).ToArray(), dtype: dtype, device: model.Device).requires_grad_(order > 0);

        var plan = new HookPlan(c);
        foreach (var (site, direction) in Directions(rows, from))
            plan.Add(new AddOffset(site, TimesRowT(direction, t)));

        var patternSites = local ? rows.Select(x => new Site(SiteKind.AttnPattern, components[x.Component].Layer)).ToArray() : [];
        if (local) plan.Cache(patternSites.Distinct());
        var metric = OnePair(rows) is { } one ? one.Metric.Measure(model, input, plan, start: start)
            : AnswerMetric.MeasureEach(model, input, [.. rows.Select(x => pairs[x.Pair].Metric)], plan, start: start);
        var m = local
            ? stack(Enumerable.Range(0, r).Select(i => (plan[patternSites[i]][i] * pairs[rows[i].Pair].CleanGradient[patternSites[i]][0]).sum()).ToArray())
            : metric;
        var phi = m.detach().to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var first = Enumerable.Repeat(double.NaN, r).ToArray();
        var second = Enumerable.Repeat(double.NaN, r).ToArray();
        if (order >= 1)
        {
            var g = autograd.grad([m.sum()], [t], retain_graph: order >= 2, create_graph: order >= 2)[0];
            first = g.detach().to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            if (order >= 2)
            {
                // A metric linear in t has φ″ ≡ 0 and no graph to differentiate; calling grad would abort natively.
                second = g.requires_grad
                    ? autograd.grad([g.sum()], [t], retain_graph: false)[0].to_type(ScalarType.Float64).cpu().data<double>().ToArray()
                    : new double[r];
            }
        }
        return new PhiValues(phi, first, second);
    }

    // Jets need fp32/fp64 activations.
    private bool UsesJets(int order, bool local) =>
        order == 2 && !local && secondDerivative == SecondDerivative.TaylorMode && model.DType is ScalarType.Float32 or ScalarType.Float64;

    /// <summary>
    /// φ, φ′, φ″ of a chunk by one Taylor-mode forward: each row's site gets the direction mask·δ (and the value
    /// t·mask·δ where t ≠ 0). At t = 0 the rows of one pair share its clean value, which then stays one row wide; rows
    /// of several pairs keep one value row per pair when each pair has equally many rows (else one per row).
    /// </summary>
    private PhiValues EvaluateChunkByJets(PhiRow[] rows)
    {
        // In pair order, so each pair's rows form one run behind its value row.
        int[] order = [.. Enumerable.Range(0, rows.Length).OrderBy(i => rows[i].Pair)];
        var values = EvaluatePairOrderedChunkByJets([.. order.Select(i => rows[i])]);
        var (phi, first, second) = (new double[rows.Length], new double[rows.Length], new double[rows.Length]);
        for (int j = 0; j < order.Length; j++)
            (phi[order[j]], first[order[j]], second[order[j]]) = (values.Phi[j], values.First[j], values.Second[j]);
        return new PhiValues(phi, first, second);
    }

    private PhiValues EvaluatePairOrderedChunkByJets(PhiRow[] rows)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        int r = rows.Length;
        var pair = OnePair(rows);
        bool moved = rows.Any(x => x.T != 0);
        var valuePairs = pair is null && !moved && fromCache ? EqualRunsOfPairs(rows) : null;
        var start = fromCache ? Start(rows, 1, local: false, valuePairs) : pair?.Resume(0, 0, 1) ?? Stacked([.. rows.Select(x => pairs[x.Pair])], 0, 0);
        var dtype = pairs[0].Delta.Values.First().dtype;
        var t = tensor(rows.Select(x => x.T).ToArray(), dtype: dtype, device: model.Device);
        // At t = 0 every value row is a clean run: where it was recorded, the value is taken from it and ẍ is retired at
        // each non-linear operation, so the weights multiply ẋ alone.
        PairState[] valueRows = pair is not null ? [pair] : valuePairs ?? [.. rows.Select(x => pairs[x.Pair])];
        var record = !moved && fromCache && valueRows.All(p => p.CleanRecord is not null) ? CleanRunRecord.ForJets([.. valueRows.Select(p => p.CleanRecord!)]) : null;
        var jets = new JetPlan(model.Config) { CleanRecord = record };
        foreach (var (site, direction) in Directions(rows, start.Position))
            jets.Add(site, direction, moved ? TimesRowT(direction, t) : null);

        // Each row's metric from its own value row (a value row per pair meets each of its rows).
        var readout = AnswerMetric.Readout([.. rows.Select(x => pairs[x.Pair].Metric)], model.Device);
        var clean = pairs[rows[0].Pair].Clean;
        long position = clean.LastPositions()[0].item<long>();
        var m = readout.Jet(model.ForwardSelected(clean, start, jets, position, readout.Tokens).WithValueRows(r));
        using var retired = record?.Retired;
        var second = retired is null ? m.Second : m.Second is null ? retired : m.Second + retired;
        double[] Read(Tensor? x) => x is null ? new double[r] : x.expand(r).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        return new PhiValues(Read(m.Value), Read(m.First), Read(second));
    }

    // The pairs of rows in pair order when each pair has equally many rows, else null.
    private PairState[]? EqualRunsOfPairs(PhiRow[] rows)
    {
        var runs = rows.GroupBy(x => x.Pair).ToArray();
        return runs.All(g => g.Count() == runs[0].Count()) ? [.. runs.Select(g => pairs[g.Key])] : null;
    }

    // Where a chunk resumes: its earliest layer and its earliest first position (no earlier position changes); a row
    // per pair of valueRows when given, else one for all rows of one pair or one per row.
    private CachedStart Start(PhiRow[] rows, long batch, bool local, PairState[]? valueRows = null)
    {
        int layer = rows.Min(x => components[x.Component].Layer);
        long position = local ? 0 : rows.Min(FirstPosition);
        if (valueRows is not null) return Stacked(valueRows, layer, position);
        return OnePair(rows) is { } pair ? pair.Resume(layer, position, batch) : Stacked([.. rows.Select(x => pairs[x.Pair])], layer, position);
    }

    // A start whose row i is the clean cache of rowPairs[i].
    private CachedStart Stacked(PairState[] rowPairs, int layer, long position)
    {
        Tensor Rows(Func<PairState, Tensor> part) => cat(rowPairs.Select(part).ToArray());
        Tensor[]? PerLayer(Func<PairState, int, Tensor> part) =>
            position == 0 ? null : [.. Enumerable.Range(0, model.Config.Layers).Select(l => Rows(p => part(p, l)))];
        return new CachedStart(layer, Rows(p => p.ResidPre[layer]), position, PerLayer((p, l) => p.CleanKeys[l]), PerLayer((p, l) => p.CleanValues[l]));
    }

    // The first position a row's patch changes: its component's first, and none before its prompts' first difference
    // (attention is causal, so δ is zero there).
    private long FirstPosition(PhiRow row) => Math.Max(components[row.Component].FirstPosition, pairs[row.Pair].FirstDifference);

    // The pair all rows belong to, or null when they mix pairs.
    private PairState? OnePair(PhiRow[] rows) => rows.All(x => x.Pair == rows[0].Pair) ? pairs[rows[0].Pair] : null;

    /// <summary>
    /// Per site, the rows' patch directions at positions <paramref name="from"/>…: row i holds mask_i·δ where row i
    /// patches that site, else 0.
    /// </summary>
    private IEnumerable<(Site Site, Tensor Direction)> Directions(PhiRow[] rows, long from)
    {
        int[] rowComponents = [.. rows.Select(x => x.Component)];
        var pair = OnePair(rows);
        foreach (var site in rows.Select(x => components[x.Component].Site).Distinct())
        {
            // One pair's δ broadcasts over its rows; rows of several pairs take their own.
            var delta = pair?.Delta[site] ?? cat(rows.Select(x => pairs[x.Pair].Delta[site]).ToArray());
            var direction = masks.Rows(site, rowComponents, delta.dtype, delta.device) * delta;
            int axis = SiteMask.Axes(site.Kind).Position;
            yield return (site, from == 0 ? direction : direction.narrow(axis, from, direction.shape[axis] - from));
        }
    }

    // direction [r, ...] with row i scaled by t_i: the offset t·δ of each row.
    private static Tensor TimesRowT(Tensor direction, Tensor t) =>
        direction * t.view([t.shape[0], .. Enumerable.Repeat(1L, (int)direction.dim() - 1)]);
}
