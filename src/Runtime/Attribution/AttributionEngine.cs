using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>Progress of a long attribution run: stage name, items done, items in the stage.</summary>
public readonly record struct AttributionProgress(string Stage, int Done, int Total);

/// <summary>
/// Screen–Flag–Fix (Zhang &amp; Wang 2026): AtP on every component (2F + 1B per pair) → a cheap curvature screen →
/// exact HVP (one Taylor-mode jet row, or one double backward, per estimate) on the screened candidates → flag
/// R̃ ≥ τ → exact patching of the flagged components (one forward row each), with their HVP-corrected estimates
/// beside. Any estimator can also be run for every component, e.g. patching for evaluation.
/// </summary>
public sealed class AttributionEngine(HookedTransformer model, AttributionOptions? options = null)
{
    private readonly AttributionOptions _options = options ?? new AttributionOptions();

    /// <summary>Runs attribution for <paramref name="components"/> over <paramref name="pairs"/>.</summary>
    /// <remarks><paramref name="progress"/> hears of each stage on this thread. Report synchronously (<see cref="SynchronousProgress{T}"/>), not with
    /// <see cref="Progress{T}"/>, which posts to the thread pool: with TorchSharp 0.107 another thread's allocations
    /// during a run can crash it (README, Limitations). For the same reason background GC is paused while it runs
    /// (<see cref="System.Runtime.GCLatencyMode.Batch"/>, the previous mode restored after).</remarks>
    public AttributionResult Run(IReadOnlyList<PromptPair> pairs, IReadOnlyList<Component> components, string modelName = "model",
        IProgress<AttributionProgress>? progress = null)
    {
        var o = _options;
        o.Validate();
        Validate(pairs, components, o.Metric);
        using var gc = BackgroundGcPause.Enter();
        var cost = new CostLedger();
        int n = components.Count, p = pairs.Count;
        // Query/key components also need ∂M/∂pattern at their layer, to split their curvature into local and downstream.
        var sites = components.Select(c => c.Site)
            .Concat(components.Where(c => c.Kind is ComponentKind.Query or ComponentKind.Key).Select(c => new Site(SiteKind.AttnPattern, c.Layer)))
            .Distinct().ToList();
        var table = new PerPairTable(p, n);
        // Each pair's state while it fits the budget (null once released: a later stage rebuilds it), and what the
        // result needs of every pair.
        var states = new PairState?[p];
        var (scales, cleanMetrics, corruptedMetrics, topProbabilities) = (new double[p], new double[p], new double[p], new double[p]);
        var all = Enumerable.Range(0, n).ToArray();
        bool Wants(CurvatureScreen s) => (o.ScreenFlagFix && o.Screen == s) || o.ExtraScreens.Contains(s);
        bool wantHutchinson = Wants(CurvatureScreen.Hutchinson), wantGradientDifference = Wants(CurvatureScreen.GradientDifference);
        string? screenKey = !o.ScreenFlagFix ? null : o.Screen switch
        {
            CurvatureScreen.Hutchinson => "screen.hutchinson",
            CurvatureScreen.GradientDifference => "screen.gradient_difference",
            _ => null,
        };

        var queryKeyInputs = Enumerable.Range(0, n).Where(c => components[c].Kind is ComponentKind.Query or ComponentKind.Key).ToArray();
        using var scope = NewDisposeScope();
        using var masksByLength = new ComponentMasksByLength(components, model.Config, model.Device);
        ComponentMasks Masks(int i) => masksByLength.For(pairs[i].Clean.Count);
        // The probes ride in AtP's pass when a pair's rows fit a chunk (clean, corrupted and one row per probe).
        bool probesInPairPass = wantHutchinson && 2 + o.HutchinsonProbes <= o.MaxRowsPerChunk;
        // Exact curvature at t = 0 (the flag stage, HVP) by jets: AtP's pass also records the clean run's adjoints and
        // linear outputs, so the jets retire ẍ at each non-linear operation and take their value from the record.
        bool recordCleanRun = o.SecondDerivative == SecondDerivative.TaylorMode && (o.ScreenFlagFix || o.Methods.HasFlag(Methods.Hvp))
            && model.DType is ScalarType.Float32 or ScalarType.Float64;
        var (recordBudget, stateBudget) = (new MemoryBudget(o.CleanRecordBudget), new MemoryBudget(o.PairStateBudget));
        int rowsPerPair = probesInPairPass ? 2 + o.HutchinsonProbes : wantGradientDifference ? 2 : 1;
        int pairsDone = 0;
        foreach (var group in PairGroups(pairs, Math.Max(1, o.MaxRowsPerChunk / rowsPerPair)))
        {
            progress?.Report(new("screen", pairsDone, p));
            pairsDone += group.Length;
            var masks = Masks(group[0]);
            var probes = wantHutchinson ? group.Select(i => new HutchinsonProbes(masks, o.HutchinsonProbes, o.Seed + i)).ToArray() : null;
            var built = PairState.BuildMany(model, [.. group.Select(i => pairs[i])], sites, o.Methods.HasFlag(Methods.Gim) ? BackwardModification.Gim : null,
                wantGradientDifference, cost, out var gimGradients, probesInPairPass ? probes : null, metric: o.Metric,
                recordCleanRun: recordCleanRun && recordBudget.Admits(group.Length) && stateBudget.Admits(group.Length));
            if (built[0].CleanRecord is not null && !recordBudget.Keep([.. built.Select(x => x.CleanRecord!.Bytes)]))
                foreach (var state in built) state.ForgetCleanRecord();
            for (int j = 0; j < group.Length; j++)
            {
                int i = group[j];
                var state = built[j];
                (scales[i], cleanMetrics[i], corruptedMetrics[i], topProbabilities[i]) = (state.Scale, state.CleanMetric, state.CorruptedMetric, state.CleanTopProbability ?? 0);
                var atp = AttributionPatching.Atp(masks, state);
                table.Set("atp", i, all, atp);
                if (gimGradients is not null) table.Set("gim", i, all, AttributionPatching.Dot(masks, state, gimGradients[j]!));
                if (wantGradientDifference) table.Set("screen.gradient_difference", i, all, AttributionPatching.GradientDifferenceCurvature(masks, state));
                if (probes is not null) table.Set("screen.hutchinson", i, all, state.HutchinsonCurvature ?? probes[j].Curvature(model, state, o.MaxRowsPerChunk, cost));
                if (o.Methods.HasFlag(Methods.AtpStar))
                {
                    table.Set("atpstar", i, all, GradDrop.Estimate(model, state, masks, atp, cost));
                    if (queryKeyInputs.Length > 0)
                        table.Set("atpstar", i, queryKeyInputs, QkFix.Estimate(new PhiEvaluator(model, state, masks, o.MaxRowsPerChunk), queryKeyInputs, cost));
                }
            }
            foreach (var gradients in gimGradients ?? []) foreach (var g in gradients!.Values) g.Dispose(); // read above only
            if (stateBudget.Keep([.. built.Select(x => x.Bytes)]))
                foreach (var (i, state) in group.Zip(built)) states[i] = state;
            else
                foreach (var state in built) state.Release();
        }
        progress?.Report(new("screen", p, p));

        // Estimators asked for every component. Patching rows are plain forward rows, so pairs share chunks.
        if (o.Methods.HasFlag(Methods.Patching)) ForEachPairGroup("patching", all, Patch);
        bool perComponentRows = (o.Methods & (Methods.Hvp | Methods.MsHvp | Methods.Ig)) != 0
            || (o.ScreenFlagFix && o.Screen == CurvatureScreen.Exact);
        ForEachPair("methods", perComponentRows ? all : [], (i, phi, rows) =>
        {
            if (o.Methods.HasFlag(Methods.Hvp) || (o.ScreenFlagFix && o.Screen == CurvatureScreen.Exact))
            {
                var second = HessianVectorCorrection.Estimate(phi, rows, cost);
                table.Set("curvature", i, rows, second.Quadratic);
                if (o.Methods.HasFlag(Methods.Hvp)) table.Set("hvp", i, rows, [.. rows.Select((_, j) => second.Corrected(j))]);
            }
            if (o.Methods.HasFlag(Methods.MsHvp))
            {
                var (estimate, bound) = MultiStepHvp.Estimate(phi, rows, o.K, cost);
                table.Set("mshvp", i, rows, estimate);
                table.Set("bound.mshvp", i, rows, bound);
            }
            if (o.Methods.HasFlag(Methods.Ig)) table.Set("ig", i, rows, IntegratedGradients.Estimate(phi, rows, o.IgSteps, cost));
        });

        var flagged = new bool[n];
        if (o.ScreenFlagFix)
        {
            // Flag: exact HVP only where the screen says curvature may matter.
            // Candidates by the larger of |AtP| and |AtP + q| (q screened, or exact without a screen): a corrected
            // magnitude, so a component AtP underestimates can still become one — under kl, where AtP is 0, every one.
            var atpMeans = table.Mean("atp");
            string curvatureKey = screenKey ?? "curvature";
            var score = atpMeans.Select((a, c) => Math.Max(Math.Abs(a), table.Has(curvatureKey, c) ? Math.Abs(a + table.Mean(curvatureKey, c)) : 0)).ToArray();
            var candidates = Candidates(score);
            var screened = candidates.Where(c => table.Has("curvature", c) || (screenKey is null || ResultBuilder.MeanRTilde(table, scales, c, screenKey, o.Epsilon) >= o.Tau * o.ScreenFraction)).ToArray();
            var needExact = screened.Where(c => !table.Has("curvature", c)).ToArray();
            // Pairs share jet chunks, each pair's rows behind one value row of its own.
            ForEachPairGroup("flag", needExact, (group, phi, rows) =>
            {
                var each = HessianVectorCorrection.EstimateEach(phi, rows, cost);
                for (int j = 0; j < group.Length; j++) table.Set("curvature", group[j], rows, each[j].Quadratic);
            });
            foreach (int c in screened) flagged[c] = ResultBuilder.MeanRTilde(table, scales, c, "curvature", o.Epsilon) >= o.Tau;

            // Fix: the flagged components' exact patching effect, one plain forward row each from the cached clean
            // run at their layer (pairs share chunks: 8 pairs 2.2× faster) — as cheap as a row of any estimate, and
            // nothing left to bound. Their HVP-corrected estimate comes free from AtP and the exact curvature and is
            // listed beside it; its actual error is known. Unflagged components keep AtP, which R̃ < τ trusts: their
            // l + q, where computed, overshoots as often as it helps (GPT-2 shape, 8 pairs: top-5 agreement 1.0 → 0.8).
            var fix = Enumerable.Range(0, n).Where(c => flagged[c]).ToArray();
            if (fix.Length > 0)
                for (int i = 0; i < p; i++)
                    table.Set("hvp", i, fix, [.. fix.Select(c => table.Get("atp", i, c) + table.Get("curvature", i, c))]);
            if (!o.Methods.HasFlag(Methods.Patching)) ForEachPairGroup("fix", fix, Patch);
        }

        // Curvature diagnosis: which share of q comes from the component's own non-linearity (softmax for q/k).
        var softmaxInputs = queryKeyInputs.Where(c => table.Has("curvature", c)).ToArray();
        ForEachPair("diagnosis", softmaxInputs, (i, phi, rows) =>
            table.Set("curvature.local", i, rows, [.. phi.EvaluateLocal([.. rows.Select(c => new PhiRow(c, 0))], cost).Second.Select(v => 0.5 * v)]));

        var data = new PairData(table.ToPerPair(), scales, cleanMetrics, corruptedMetrics, flagged, screenKey,
            o.Metric == MetricKind.KlDivergence ? topProbabilities : null);
        return ResultBuilder.Build(modelName, AnswerMetric.Name(o.Metric), components, o, data, cost.ByMethod);

        void Patch(int[] group, PhiEvaluator phi, int[] rows)
        {
            var effects = ActivationPatching.EstimateEach(phi, rows, cost);
            for (int j = 0; j < group.Length; j++) table.Set("patching", group[j], rows, effects[j]);
        }

        // The group's states: kept ones, and the released ones rebuilt for this stage (freed with its scope), recorded
        // where the stage runs jets at t = 0.
        PairState[] StatesOf(int[] group, bool record)
        {
            int[] released = [.. group.Where(i => states[i] is null)];
            if (released.Length == 0) return [.. group.Select(i => states[i]!)];
            var rebuilt = PairState.BuildMany(model, [.. released.Select(i => pairs[i])], sites, null, false, cost, out _, metric: o.Metric,
                recordCleanRun: record, stage: "rebuild");
            return [.. group.Select(i => states[i] ?? rebuilt[Array.IndexOf(released, i)])];
        }

        // One pair at a time: stages with many rows per pair.
        void ForEachPair(string stage, int[] rows, Action<int, PhiEvaluator, int[]> work) =>
            ForEachPairGroup(stage, rows, (group, phi, r) => work(group[0], phi, r), pairsPerGroup: 1);

        // Equally long pairs share chunks: by default about one chunk's rows per group, for stages with few rows per pair.
        void ForEachPairGroup(string stage, int[] rows, Action<int[], PhiEvaluator, int[]> work, int? pairsPerGroup = null)
        {
            if (rows.Length == 0) return;
            int done = 0;
            foreach (var group in PairGroups(pairs, pairsPerGroup ?? Math.Max(1, o.MaxRowsPerChunk / rows.Length)))
            {
                progress?.Report(new(stage, done, p));
                done += group.Length;
                using var groupScope = NewDisposeScope();
                work(group, new PhiEvaluator(model, StatesOf(group, record: recordCleanRun && stage is "flag" or "methods"), Masks(group[0]), o.MaxRowsPerChunk, secondDerivative: o.SecondDerivative), rows);
            }
            progress?.Report(new(stage, p, p));
        }
    }

    private void Validate(IReadOnlyList<PromptPair> pairs, IReadOnlyList<Component> components, MetricKind metric)
    {
        if (pairs.Count == 0) throw new AttributionInputException("No prompt pairs: attribution needs at least one clean/corrupted pair.");
        if (components.Count == 0) throw new AttributionInputException("The component set is empty: pass heads, MLPs, neurons or residual positions.");
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(model.Config.VocabSize, i, metric);
        int positions = pairs.Min(x => x.Clean.Count);
        if (components.Any(c => c.SelectedPosition is not null) && pairs.Any(x => x.Clean.Count != positions))
            throw new AttributionInputException("Per-position components need every pair to have the same length; group pairs by length.");
        var duplicate = components.GroupBy(c => c.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new AttributionInputException($"Component {duplicate.Key} is listed twice.");
        foreach (var c in components)
        {
            if (c.Kind is ComponentKind.Embedding or ComponentKind.Logits)
                throw new AttributionInputException($"{c.Id} is an end of edges (EdgePatching, EdgeAttribution, circuit edges), not a component to attribute; the embedding at position p is L0R{{p}}.");
            c.Validate(model.Config);
            if (c.FirstPosition >= positions)
                throw new AttributionInputException($"Component {c.Id} selects a position beyond the prompts' {positions} tokens.");
        }
    }

    // Pairs that share passes: equally long ones, up to the rows a chunk allows, by first difference (so a group's
    // shared prefix, which AtP's passes may skip, is as long as it can be).
    private static IEnumerable<int[]> PairGroups(IReadOnlyList<PromptPair> pairs, int pairsPerGroup) =>
        Enumerable.Range(0, pairs.Count).GroupBy(i => pairs[i].Clean.Count).SelectMany(g => g.OrderBy(i => pairs[i].FirstDifference).Chunk(pairsPerGroup));

    private int[] Candidates(double[] score)
    {
        var order = Enumerable.Range(0, score.Length).OrderByDescending(i => score[i]).ToArray();
        int k = _options.CandidateTopK ?? Math.Max(AttributionOptions.MinimumCandidates, (int)Math.Ceiling(score.Length * AttributionOptions.CandidateShare));
        if (k >= score.Length) return order;
        double threshold = score[order[k - 1]] * (1 - _options.MarginBand);
        return order.Where((c, rank) => rank < k || score[c] >= threshold).ToArray();
    }

}
