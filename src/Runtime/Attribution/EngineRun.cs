using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// One <see cref="AttributionEngine.Run"/>, stage by stage: <see cref="Screen"/> (AtP and the screens, one pass per
/// group of pairs), <see cref="EstimateEveryComponent"/> (the estimators asked for every component),
/// <see cref="FlagAndFix"/>, <see cref="DiagnoseCurvature"/>, then <see cref="Result"/>. Every per-pair value goes into
/// one table; tensors live in the caller's dispose scope.
/// </summary>
internal sealed class EngineRun : IDisposable
{
    private readonly HookedTransformer _model;
    private readonly AttributionOptions _o;
    private readonly IReadOnlyList<PromptPair> _pairs;
    private readonly IReadOnlyList<Component> _components;
    private readonly IProgress<AttributionProgress>? _progress;
    private readonly CostLedger _cost = new();
    private readonly PerPairTable _table;
    private readonly ComponentMasksByLength _masks;
    private readonly List<Site> _sites;
    private readonly int[] _all, _queryKeyInputs;
    private readonly string? _screenKey;
    private readonly bool _wantHutchinson, _wantGradientDifference, _recordCleanRun;

    // Each pair's state while it fits the budget (null once released: a later stage rebuilds it), and what the result
    // needs of every pair.
    private readonly PairState?[] _states;
    private readonly AnswerMetric[] _metrics; // beyond a released state: a rebuild reuses KL's clean distributions, the result their top probabilities
    private readonly double[] _scales, _cleanMetrics, _corruptedMetrics;

    public EngineRun(HookedTransformer model, AttributionOptions options, IReadOnlyList<PromptPair> pairs, IReadOnlyList<Component> components,
        IProgress<AttributionProgress>? progress)
    {
        (_model, _o, _pairs, _components, _progress) = (model, options, pairs, components, progress);
        int n = components.Count, p = pairs.Count;
        _table = new PerPairTable(p, n);
        _states = new PairState?[p];
        _metrics = new AnswerMetric[p];
        (_scales, _cleanMetrics, _corruptedMetrics) = (new double[p], new double[p], new double[p]);
        _all = [.. Enumerable.Range(0, n)];
        _queryKeyInputs = [.. _all.Where(c => components[c].Kind is ComponentKind.Query or ComponentKind.Key)];
        // Query/key components also need ∂M/∂pattern at their layer, to split their curvature into local and downstream.
        _sites = [.. components.Select(c => c.Site).Concat(_queryKeyInputs.Select(c => new Site(SiteKind.AttnPattern, components[c].Layer))).Distinct()];
        _masks = new ComponentMasksByLength(components, model.Config, model.Device);
        bool Wants(CurvatureScreen s) => (options.ScreenFlagFix && options.Screen == s) || options.ExtraScreens.Contains(s);
        (_wantHutchinson, _wantGradientDifference) = (Wants(CurvatureScreen.Hutchinson), Wants(CurvatureScreen.GradientDifference));
        _screenKey = !options.ScreenFlagFix ? null : options.Screen switch
        {
            CurvatureScreen.Hutchinson => "screen.hutchinson",
            CurvatureScreen.GradientDifference => "screen.gradient_difference",
            _ => null,
        };
        // Exact curvature at t = 0 (the flag stage, HVP) by jets: AtP's pass also records the clean run's adjoints and
        // linear outputs, so the jets retire ẍ at each non-linear operation and take their value from the record.
        _recordCleanRun = options.SecondDerivative == SecondDerivative.TaylorMode && (options.ScreenFlagFix || options.Methods.HasFlag(Methods.Hvp))
            && model.DType is ScalarType.Float32 or ScalarType.Float64;
    }

    /// <summary>AtP for every component and pair (2F + 1B per pair, pairs sharing passes), with the screens, GIM and AtP*.</summary>
    public void Screen()
    {
        var o = _o;
        int p = _pairs.Count;
        // The probes ride in AtP's pass when a pair's rows fit a chunk (clean, corrupted and one row per probe).
        bool probesInPairPass = _wantHutchinson && 2 + o.HutchinsonProbes <= o.MaxRowsPerChunk;
        var (recordBudget, stateBudget) = (new MemoryBudget(o.CleanRecordBudget), new MemoryBudget(o.PairStateBudget));
        int rowsPerPair = probesInPairPass ? 2 + o.HutchinsonProbes : _wantGradientDifference ? 2 : 1;
        int pairsDone = 0;
        foreach (var group in PairGroups(Math.Max(1, o.MaxRowsPerChunk / rowsPerPair)))
        {
            _progress?.Report(new("screen", pairsDone, p));
            pairsDone += group.Length;
            var masks = Masks(group[0]);
            var probes = _wantHutchinson ? group.Select(i => new HutchinsonProbes(masks, o.HutchinsonProbes, o.Seed + i)).ToArray() : null;
            var built = PairState.BuildMany(_model, [.. group.Select(i => _pairs[i])], _sites, o.Methods.HasFlag(Methods.Gim) ? BackwardModification.Gim : null,
                _wantGradientDifference, _cost, out var gimGradients, probesInPairPass ? probes : null, metric: o.Metric,
                recordCleanRun: _recordCleanRun && recordBudget.Admits(group.Length) && stateBudget.Admits(group.Length));
            if (built[0].CleanRecord is not null && !recordBudget.Keep([.. built.Select(x => x.CleanRecord!.Bytes)]))
                foreach (var state in built) state.ForgetCleanRecord();
            for (int j = 0; j < group.Length; j++)
            {
                int i = group[j];
                var state = built[j];
                _metrics[i] = state.Metric;
                (_scales[i], _cleanMetrics[i], _corruptedMetrics[i]) = (state.Scale, state.CleanMetric, state.CorruptedMetric);
                var atp = AttributionPatching.Atp(masks, state);
                _table.Set("atp", i, _all, atp);
                if (gimGradients is not null) _table.Set("gim", i, _all, AttributionPatching.Dot(masks, state, gimGradients[j]!));
                if (_wantGradientDifference) _table.Set("screen.gradient_difference", i, _all, AttributionPatching.GradientDifferenceCurvature(masks, state));
                if (probes is not null) _table.Set("screen.hutchinson", i, _all, state.HutchinsonCurvature ?? probes[j].Curvature(_model, state, o.MaxRowsPerChunk, _cost));
                if (o.Methods.HasFlag(Methods.AtpStar))
                {
                    _table.Set("atpstar", i, _all, GradDrop.Estimate(_model, state, masks, atp, _cost));
                    if (_queryKeyInputs.Length > 0)
                        _table.Set("atpstar", i, _queryKeyInputs, QkFix.Estimate(new PhiEvaluator(_model, state, masks, o.MaxRowsPerChunk), _queryKeyInputs, _cost));
                }
            }
            foreach (var gradients in gimGradients ?? []) foreach (var g in gradients!.Values) g.Dispose(); // read above only
            if (stateBudget.Keep([.. built.Select(x => x.Bytes)]))
                foreach (var (i, state) in group.Zip(built)) _states[i] = state;
            else
                foreach (var state in built) state.Release();
        }
        _progress?.Report(new("screen", p, p));
    }

    /// <summary>The estimators asked for every component: patching (plain forward rows, pairs sharing chunks), HVP,
    /// MS-HVP and IG (and the exact curvature when Screen–Flag–Fix has no screen).</summary>
    public void EstimateEveryComponent()
    {
        var o = _o;
        if (o.Methods.HasFlag(Methods.Patching)) ForEachPairGroup("patching", _all, Patch);
        bool exactCurvature = o.Methods.HasFlag(Methods.Hvp) || (o.ScreenFlagFix && o.Screen == CurvatureScreen.Exact);
        bool perComponentRows = exactCurvature || (o.Methods & (Methods.MsHvp | Methods.Ig)) != 0;
        ForEachPair("methods", perComponentRows ? _all : [], (i, phi, rows) =>
        {
            if (exactCurvature)
            {
                var second = HessianVectorCorrection.Estimate(phi, rows, _cost);
                _table.Set("curvature", i, rows, second.Quadratic);
                if (o.Methods.HasFlag(Methods.Hvp)) _table.Set("hvp", i, rows, [.. rows.Select((_, j) => second.Corrected(j))]);
            }
            if (o.Methods.HasFlag(Methods.MsHvp))
            {
                var (estimate, bound) = MultiStepHvp.Estimate(phi, rows, o.K, _cost);
                _table.Set("mshvp", i, rows, estimate);
                _table.Set("bound.mshvp", i, rows, bound);
            }
            if (o.Methods.HasFlag(Methods.Ig)) _table.Set("ig", i, rows, IntegratedGradients.Estimate(phi, rows, o.IgSteps, _cost));
        });
    }

    /// <summary>
    /// Flag: exact HVP only where the screen says curvature may matter, then R̃ ≥ τ. Fix: the flagged components' exact
    /// patching effect (unless <see cref="AttributionOptions.Fix"/> takes the second-order correction). Returns the flags.
    /// </summary>
    public bool[] FlagAndFix()
    {
        var o = _o;
        int n = _components.Count, p = _pairs.Count;
        // Candidates by the larger of |AtP| and |AtP + q| (q screened, or exact without a screen): a corrected
        // magnitude, so a component AtP underestimates can still become one — under kl, where AtP is 0, every one.
        var atpMeans = _table.Mean("atp");
        string curvatureKey = _screenKey ?? "curvature";
        var score = atpMeans.Select((a, c) => Math.Max(Math.Abs(a), _table.Has(curvatureKey, c) ? Math.Abs(a + _table.Mean(curvatureKey, c)) : 0)).ToArray();
        var screened = Candidates(score).Where(c => _table.Has("curvature", c)
            || _screenKey is null || ResultBuilder.MeanRTilde(_table, _scales, c, _screenKey, o.Epsilon) >= o.Tau * o.ScreenFraction).ToArray();
        var needExact = screened.Where(c => !_table.Has("curvature", c)).ToArray();
        // Pairs share jet chunks, each pair's rows behind one value row of its own.
        ForEachPairGroup("flag", needExact, (group, phi, rows) =>
        {
            var each = HessianVectorCorrection.EstimateEach(phi, rows, _cost);
            for (int j = 0; j < group.Length; j++) _table.Set("curvature", group[j], rows, each[j].Quadratic);
        });
        var flagged = new bool[n];
        foreach (int c in screened) flagged[c] = ResultBuilder.MeanRTilde(_table, _scales, c, "curvature", o.Epsilon) >= o.Tau;

        // Fix: one plain forward row each from the cached clean run at their layer (pairs share chunks: 8 pairs 2.2×
        // faster) — as cheap as a row of any estimate, and nothing left to bound. Their HVP-corrected estimate comes
        // free from AtP and the exact curvature and is listed beside it; its actual error is known. Unflagged components
        // keep AtP, which R̃ < τ trusts: their l + q, where computed, overshoots as often as it helps (GPT-2 shape,
        // 8 pairs: top-5 agreement 1.0 → 0.8).
        var fix = Enumerable.Range(0, n).Where(c => flagged[c]).ToArray();
        if (fix.Length > 0)
            for (int i = 0; i < p; i++)
                _table.Set("hvp", i, fix, [.. fix.Select(c => _table.Get("atp", i, c) + _table.Get("curvature", i, c))]);
        if (o.Fix == FixMethod.Patching && !o.Methods.HasFlag(Methods.Patching)) ForEachPairGroup("fix", fix, Patch);
        return flagged;
    }

    /// <summary>Which share of a query's or key's exact curvature comes from its own softmax.</summary>
    public void DiagnoseCurvature()
    {
        var softmaxInputs = _queryKeyInputs.Where(c => _table.Has("curvature", c)).ToArray();
        ForEachPair("diagnosis", softmaxInputs, (i, phi, rows) =>
            _table.Set("curvature.local", i, rows, [.. phi.EvaluateLocal([.. rows.Select(c => new PhiRow(c, 0))], _cost).Second.Select(v => 0.5 * v)]));
    }

    /// <summary>The result: means over pairs, R and R̃, bounds, the evaluation against patching where it ran.</summary>
    public AttributionResult Result(string modelName, bool[] flagged)
    {
        var data = new PairData(_table.ToPerPair(), _scales, _cleanMetrics, _corruptedMetrics, flagged, _screenKey,
            _o.Metric == MetricKind.KlDivergence ? [.. _metrics.Select(m => m.ReferenceTopProbability!.Value)] : null);
        return ResultBuilder.Build(modelName, AnswerMetric.Name(_o.Metric), _components, _o, data, _cost.ByMethod);
    }

    public void Dispose() => _masks.Dispose();

    private ComponentMasks Masks(int pair) => _masks.For(_pairs[pair].Clean.Count);

    private void Patch(int[] group, PhiEvaluator phi, int[] rows)
    {
        var effects = ActivationPatching.EstimateEach(phi, rows, _cost);
        for (int j = 0; j < group.Length; j++) _table.Set("patching", group[j], rows, effects[j]);
    }

    // One pair at a time: stages with many rows per pair.
    private void ForEachPair(string stage, int[] rows, Action<int, PhiEvaluator, int[]> work) =>
        ForEachPairGroup(stage, rows, (group, phi, r) => work(group[0], phi, r), pairsPerGroup: 1);

    // Equally long pairs share chunks: by default about one chunk's rows per group, for stages with few rows per pair.
    private void ForEachPairGroup(string stage, int[] rows, Action<int[], PhiEvaluator, int[]> work, int? pairsPerGroup = null)
    {
        if (rows.Length == 0) return;
        int done = 0, p = _pairs.Count;
        foreach (var group in PairGroups(pairsPerGroup ?? Math.Max(1, _o.MaxRowsPerChunk / rows.Length)))
        {
            _progress?.Report(new(stage, done, p));
            done += group.Length;
            using var groupScope = NewDisposeScope();
            var states = StatesOf(group, record: _recordCleanRun && stage is "flag" or "methods");
            work(group, new PhiEvaluator(_model, states, Masks(group[0]), _o.MaxRowsPerChunk, secondDerivative: _o.SecondDerivative), rows);
        }
        _progress?.Report(new(stage, p, p));
    }

    // The group's states: kept ones, and the released ones rebuilt for this stage (freed with its scope), recorded where
    // the stage runs jets at t = 0.
    private PairState[] StatesOf(int[] group, bool record)
    {
        int[] released = [.. group.Where(i => _states[i] is null)];
        if (released.Length == 0) return [.. group.Select(i => _states[i]!)];
        var rebuilt = PairState.BuildMany(_model, [.. released.Select(i => _pairs[i])], _sites, null, false, _cost, out _, metric: _o.Metric,
            recordCleanRun: record, stage: "rebuild", pairMetrics: [.. released.Select(i => _metrics[i])]);
        return [.. group.Select(i => _states[i] ?? rebuilt[Array.IndexOf(released, i)])];
    }

    // Pairs that share passes: equally long ones, up to the rows a chunk allows, by first difference (so a group's
    // shared prefix, which AtP's passes may skip, is as long as it can be).
    private IEnumerable<int[]> PairGroups(int pairsPerGroup) =>
        Enumerable.Range(0, _pairs.Count).GroupBy(i => _pairs[i].Clean.Count).SelectMany(g => g.OrderBy(i => _pairs[i].FirstDifference).Chunk(pairsPerGroup));

    private int[] Candidates(double[] score)
    {
        var order = Enumerable.Range(0, score.Length).OrderByDescending(i => score[i]).ToArray();
        int k = _o.CandidateTopK ?? Math.Max(AttributionOptions.MinimumCandidates, (int)Math.Ceiling(score.Length * AttributionOptions.CandidateShare));
        if (k >= score.Length) return order;
        double threshold = score[order[k - 1]] * (1 - _o.MarginBand);
        return order.Where((c, rank) => rank < k || score[c] >= threshold).ToArray();
    }
}
