using System.Diagnostics;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Benchmarks;

/// <summary>One timed operation on one shape.</summary>
/// <param name="Shape">Model/shape name.</param>
/// <param name="Operation">What was timed.</param>
/// <param name="Seconds">Median wall time.</param>
/// <param name="Rows">Batch rows processed.</param>
/// <param name="PeakBytes">Peak RSS growth during the operation (0 when not measured).</param>
/// <param name="ReferenceSeconds">A reference implementation's median time for the same operation, timed alternately with this one (null when none).</param>
public sealed record BenchRow(string Shape, string Operation, double Seconds, long Rows, long PeakBytes = 0, double? ReferenceSeconds = null);

/// <summary>Another implementation of the bench's operations (e.g. PyTorch eager), timed beside it.</summary>
public interface IReferenceTimer
{
    /// <summary>Median seconds of <paramref name="operation"/> (a bench row name) there, or null when it has no such operation.</summary>
    double? Time(string operation);
}

/// <summary>A ratio the paper's cost model predicts, with its target.</summary>
/// <param name="Shape">Shape.</param>
/// <param name="Name">What is compared.</param>
/// <param name="Value">Measured ratio.</param>
/// <param name="Target">Target, e.g. "≤ 1.2".</param>
/// <param name="Met">Whether the target holds in this run.</param>
public sealed record BenchRatio(string Shape, string Name, double Value, string Target, bool Met);

/// <summary>A shape to benchmark: a model and one prompt pair.</summary>
/// <param name="Name">Display name.</param>
/// <param name="Model">The model.</param>
/// <param name="Pair">The pair.</param>
/// <param name="PerPosition">Also time per-position head components.</param>
/// <param name="ReferenceHvpBytesPerRow">A reference's HVP peak memory per row on this shape, if any: a target.</param>
public sealed record BenchShape(string Name, HookedTransformer Model, PromptPair Pair, bool PerPosition = true, long? ReferenceHvpBytesPerRow = null);

/// <summary>
/// Times every estimator side by side on one shape and reports the cost-model ratios: AtP / (2F + 1B), cached vs
/// full-forward patching and HVP, HVP / patching per component, screens / AtP, Screen–Flag–Fix / patching-all
/// (with top-5 agreement), and peak memory of an HVP chunk against a forward.
/// </summary>
public static class CostBenchmark
{
    /// <summary>
    /// Runs the benchmark; at least <paramref name="repeats"/> timed runs after one warm-up (more for millisecond
    /// operations), median reported. With a <paramref name="reference"/>, each operation it has is also timed there,
    /// alternating with the bench's own runs (<see cref="BenchRow.ReferenceSeconds"/>).
    /// </summary>
    public static (IReadOnlyList<BenchRow> Rows, IReadOnlyList<BenchRatio> Ratios) Run(BenchShape shape, int repeats = 3, int maxRows = 48, Action<string>? log = null,
        IReferenceTimer? reference = null)
    {
        using var gc = GcPause.Enter();
        var rows = new List<BenchRow>();
        var model = shape.Model;
        var c = model.Config;
        var heads = Components.Heads(c);
        var sites = heads.Select(h => h.Site).Distinct().ToList();
        // As the engine builds it for HVP: with the clean run recorded, so jets at t = 0 take their values and retire ẍ (CleanRunRecord).
        var state = PairState.Build(model, shape.Pair, sites, null, corruptedGradient: true, new CostLedger(), out _, recordCleanRun: true);
        var all = Enumerable.Range(0, heads.Count).ToArray();
        using var masks = new ComponentMasks(heads, c, shape.Pair.Clean.Count, model.Device);

        BenchRow Time(string op, long rowCount, Action action, bool memory = false)
        {
            log?.Invoke($"{shape.Name}: {op}");
            // The first run doubles as warm-up; operations that take over a second are timed once (noise is small
            // relative to them and the full bench must stay under ten minutes).
            var first = Stopwatch.StartNew();
            using (var warm = NewDisposeScope()) action();
            bool slow = first.Elapsed.TotalSeconds > 1;
            // Then about half a second more of warm-up (up to 10 runs), outside --quick: the JIT's recompilations of the
            // operation's hot paths, in the background, end before the timed runs (on two cores they compete with
            // libtorch's threads: a first pass took 150–345 ms in its first runs, 100–110 ms once they had ended).
            if (!slow && repeats > 1)
                for (int i = Math.Clamp((int)(0.5 / Math.Max(first.Elapsed.TotalSeconds, 1e-4)), 1, 10); i > 0; i--)
                {
                    using var warm = NewDisposeScope();
                    action();
                }
            // Operations under a second meet the shared machine's slow spells (tens of percent, for seconds): in a full
            // run they get about a second of runs (at most 25) before the median is taken.
            int runs = slow ? 0 : repeats == 1 ? 1 : Math.Clamp((int)(1.0 / Math.Max(first.Elapsed.TotalSeconds, 1e-4)), repeats, 25);
            double ours = slow ? first.Elapsed.TotalSeconds : Median(runs, action);
            // Against a reference, rounds alternate with its runs of the same operation, so both sides see the same
            // machine: its load drifts by tens of percent within a minute. Each side reports its median round.
            double? theirs = null;
            if (reference?.Time(op) is double once)
            {
                List<double> mine = [ours], others = [once];
                for (int round = 1; round < (slow ? 1 : AlternatingRounds); round++)
                {
                    mine.Add(Median(runs, action));
                    others.Add(reference.Time(op) ?? once);
                }
                (ours, theirs) = (MedianOf(mine), MedianOf(others));
            }
            long peak = 0;
            if (memory)
            {
                // Its own, untimed run: the measurement changes how memory is allocated.
                Settle();
                peak = PeakMemory.Measure(() => { using var scope = NewDisposeScope(); action(); });
            }
            var row = new BenchRow(shape.Name, op, ours, rowCount, peak, theirs);
            rows.Add(row);
            return row;
        }

        var input = ModelInput.Single(shape.Pair.Clean, model.Device);
        var metric = AnswerMetric.Of(MetricKind.LogitDifference, shape.Pair);
        Action forwardRun = () => { using var _ = inference_mode(); metric.Measure(model, input); };
        Action forwardBackwardRun = () => ForwardBackward(model, input, metric, sites);
        Action atpRun = () => AttributionPatching.Atp(masks, PairState.Build(model, shape.Pair, sites, null, false, new CostLedger(), out _));
        var forward = Time("forward (1 row)", 1, forwardRun, memory: true);
        var batch8 = input.Repeat(0, 8);
        Time("forward (8 rows)", 8, () => { using var _ = inference_mode(); metric.Measure(model, batch8); });
        var backward = Time("forward + backward (1 row)", 1, forwardBackwardRun);
        Time("forward + backward (8 rows)", 8, () => ForwardBackward(model, batch8, metric, sites));
        var atp = Time("AtP, all heads (2F + 1B)", 2, atpRun);
        int probes = new AttributionOptions().HutchinsonProbes;
        var hutchinson = Time($"Hutchinson screen, {probes} probes (own pass)", probes + 1,
            () => new HutchinsonProbes(masks, probes, 1).Curvature(model, state, maxRows, new CostLedger()));
        // As the engine runs it: the probes as extra rows of AtP's pass.
        var atpHutchinson = Time($"AtP + Hutchinson screen, {probes} probes (one pass)", 2 + probes,
            () => PairState.Build(model, shape.Pair, sites, null, false, new CostLedger(), out _, new HutchinsonProbes(masks, probes, 1)));
        var gradientDifference = Time("gradient-difference screen", 2, () => AttributionPatching.GradientDifferenceCurvature(masks, PairState.Build(model, shape.Pair, sites, null, true, new CostLedger(), out _)));

        PhiEvaluator Phi(PairState pair, bool cached = true, SecondDerivative method = SecondDerivative.TaylorMode) => new(model, pair, masks, maxRows, cached, method);
        PairState ForwardOnly(PromptPair pair, IReadOnlyCollection<Site> patchSites) =>
            PairState.Build(model, pair, patchSites, null, false, new CostLedger(), out _, gradients: false);
        // Patching's rows from a prepared clean cache (as the PyTorch reference times them), and patching end to end as a
        // Screen–Flag–Fix run is timed: from the prompts, its clean and corrupted forward included. Its values are also
        // the truth the Screen–Flag–Fix runs are scored against: kept from the timed runs.
        double[] truth = [];
        Action patchAll = () => ActivationPatching.Estimate(Phi(state), all, new CostLedger());
        var patchCached = Time("patching, all heads (cached start)", heads.Count, patchAll);
        Action patchFromPrompts = () => truth = ActivationPatching.Estimate(Phi(ForwardOnly(shape.Pair, sites)), all, new CostLedger());
        var patchEndToEnd = Time("patching, all heads, end to end (clean and corrupted forward, then cached starts)", heads.Count + 2, patchFromPrompts);
        var patchFull = Time("patching, all heads (full forward)", heads.Count, () => ActivationPatching.Estimate(Phi(state, false), all, new CostLedger()));
        // The engine's HVP: Taylor-mode jets from the cached residual. The reference method: full forwards and a double
        // backward per chunk, as a PyTorch user would write it; in between, the double backward from the cache.
        // Their ledgers also give the rows per chunk (rows / passes), which memory per row needs.
        CostLedger jetLedger = new(), backwardLedger = new();
        var hvpCached = Time("HVP, all heads (cached start, Taylor-mode jets)", heads.Count, () => HessianVectorCorrection.Estimate(Phi(state), all, jetLedger), memory: true);
        var hvpCachedBackward = Time("HVP, all heads (cached start, double backward)", heads.Count,
            () => HessianVectorCorrection.Estimate(Phi(state, true, SecondDerivative.DoubleBackward), all, backwardLedger), memory: true);
        var hvpFull = Time("HVP, all heads (full forward, double backward)", heads.Count,
            () => HessianVectorCorrection.Estimate(Phi(state, false, SecondDerivative.DoubleBackward), all, new CostLedger()));
        // MS-HVP and IG cost 6 and 32 rows per component: on large shapes they are timed on 16 heads spread over the
        // layers and compared per component, which keeps the full bench under ten minutes.
        var some = all.Length <= 16 ? all : [.. Enumerable.Range(0, 16).Select(i => all[i * all.Length / 16])]; // spread over layers
        var ms = Time($"MS-HVP K=5, {some.Length} heads", some.Length * 6L, () => MultiStepHvp.Estimate(Phi(state), some, 5, new CostLedger()));
        var ig = Time($"IG m=32, {some.Length} heads", some.Length * 32L, () => IntegratedGradients.Estimate(Phi(state), some, 32, new CostLedger()));
        double perPatch = patchCached.Seconds / heads.Count;

        var ratios = new List<BenchRatio>();
        ScreenFlagFix("all heads", heads, truth, patchEndToEnd, patchFromPrompts, 3, fullForwardPatching: patchFull, patchingRowsAlone: patchCached);
        ratios.InsertRange(0, new List<BenchRatio>
        {
            Ratio(shape.Name, "AtP / (2F + 1B)", AlternatingRatio(atp.Seconds / (forward.Seconds + backward.Seconds), atpRun,
                () => { forwardRun(); forwardBackwardRun(); }, repeats, numeratorRuns: repeats), 1.2, lower: true),
            Ratio(shape.Name, "patching: full forward / cached start", patchFull.Seconds / patchCached.Seconds, 1.6, lower: false),
            Ratio(shape.Name, "HVP: full-forward double backward / cached-start jets", hvpFull.Seconds / hvpCached.Seconds, 1.6, lower: false),
            new(shape.Name, "HVP: full forward / cached start, both by double backward", hvpFull.Seconds / hvpCachedBackward.Seconds, "report", true),
            Ratio(shape.Name, "HVP-all / patching-all (per component)", hvpCached.Seconds / patchCached.Seconds, 3, lower: true),
            Ratio(shape.Name, "Hutchinson screen / AtP (its extra time in AtP's pass)", Math.Max(0, atpHutchinson.Seconds - atp.Seconds) / atp.Seconds, 3, lower: true),
            new(shape.Name, "Hutchinson screen in its own pass / AtP", hutchinson.Seconds / atp.Seconds, "report", true),
            Ratio(shape.Name, "gradient-difference screen / AtP", gradientDifference.Seconds / atp.Seconds, 3, lower: true),
            new(shape.Name, "MS-HVP K=5 / patching (per component)", ms.Seconds / some.Length / perPatch, "report", true),
            new(shape.Name, "IG m=32 / patching (per component)", ig.Seconds / some.Length / perPatch, "report", true),
        });
        foreach (var (hvp, how, ledger) in new[] { (hvpCached, "jets", jetLedger), (hvpCachedBackward, "double backward", backwardLedger) })
        {
            if (hvp.PeakBytes <= 0) continue;
            var spent = ledger.ByMethod["hvp"];
            double chunkRows = (double)spent.Rows / spent.Forwards, perRow = hvp.PeakBytes / chunkRows;
            string mib = $"{perRow / (1 << 20):F1} MiB per row, {chunkRows:F0}-row chunks";
            // RSS growth below 1 MiB is allocator noise (a forward can reuse pages freed earlier): no ratio then.
            if (forward.PeakBytes >= 1 << 20)
                ratios.Add(new(shape.Name, $"peak memory per HVP row ({how}) / forward row ({mib}; forward {forward.PeakBytes / (double)(1 << 20):F1} MiB)",
                    perRow / forward.PeakBytes, "report", true));
            if (shape.ReferenceHvpBytesPerRow is long referenceBytes)
                ratios.Add(Ratio(shape.Name, $"peak memory per HVP row ({how}) / the reference's ({mib}; reference {referenceBytes / (double)(1 << 20):F1} MiB)",
                    perRow / referenceBytes, 1, lower: true));
        }

        double MiB(long bytes) => bytes / (double)(1 << 20);
        ratios.Add(new(shape.Name, $"memory a pair keeps for the run, MiB (its clean-run record {MiB(state.CleanRecord?.Bytes ?? 0):F1} MiB of it)",
            MiB(state.Bytes), "report", true));

        Datasets();

        if (shape.PerPosition)
        {
            var perPosition = Components.HeadsPerPosition(c, shape.Pair.Clean.Count);
            var positionSites = perPosition.Select(x => x.Site).Distinct().ToList();
            var allPositions = Enumerable.Range(0, perPosition.Count).ToArray();
            using var positionMasks = new ComponentMasks(perPosition, c, shape.Pair.Clean.Count, model.Device);
            double[] truthPositions = [];
            Action patchPositions = () => truthPositions = ActivationPatching.Estimate(
                new PhiEvaluator(model, ForwardOnly(shape.Pair, positionSites), positionMasks, maxRows), allPositions, new CostLedger());
            var patchedPositions = Time("patching, heads × positions, end to end", perPosition.Count + 2, patchPositions);
            ScreenFlagFix("heads × positions", perPosition, truthPositions, patchedPositions, patchPositions, 10);
        }
        return (rows, ratios);

        // Datasets of eight pairs: the shape's pair and its mirror image, alternately; and pairs that differ only at
        // five eighths of the prompt (IOI's ABB/ABC corruptions differ late), whose shared prefix AtP's passes may skip.
        // AtP, and AtP with the Hutchinson screen (Screen–Flag–Fix's first stage), with equally long pairs sharing
        // passes as the engine runs them, against one pair at a time: the same work either way; only the passes differ.
        // Then Screen–Flag–Fix on the first dataset (batch 8) against patching its eight pairs.
        void Datasets()
        {
            var mirror = new PromptPair(shape.Pair.Corrupted, shape.Pair.Clean, shape.Pair.Wrong, shape.Pair.Answer);
            var alternating = Enumerable.Range(0, 8).Select(j => j % 2 == 0 ? shape.Pair : mirror).ToArray();
            int late = shape.Pair.Clean.Count * 5 / 8;
            PromptPair LateCorruption(int j)
            {
                int[] corrupted = [.. shape.Pair.Clean];
                corrupted[late] = (corrupted[late] + 1 + j) % c.VocabSize;
                return shape.Pair with { Corrupted = corrupted };
            }
            foreach (var (label, dataset) in new[] { ("8 pairs", alternating),
                ($"8 pairs differing from position {late}", Enumerable.Range(0, 8).Select(LateCorruption).ToArray()) })
                foreach (var (what, screens, rowsPerPair) in new[] { ("AtP", Array.Empty<CurvatureScreen>(), 2), ($"AtP + Hutchinson screen, {probes} probes", [CurvatureScreen.Hutchinson], 2 + probes) })
                {
                    var engine = new AttributionEngine(model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Atp, ExtraScreens = screens, MaxRowsPerChunk = maxRows });
                    Action shared = () => engine.Run(dataset, heads);
                    Action apart = () => { foreach (var pair in dataset) engine.Run([pair], heads); };
                    var together = Time($"{what}, all heads, {label} sharing passes", dataset.Length * rowsPerPair, shared);
                    var separately = Time($"{what}, all heads, {label} one at a time", dataset.Length * rowsPerPair, apart);
                    ratios.Add(new(shape.Name, $"{what}, all heads, {label}: one at a time / sharing passes",
                        AlternatingRatio(separately.Seconds / together.Seconds, apart, shared, repeats), "report", true));
                }

            // Patching end to end: the pairs' clean and corrupted prompts in one forward, then its rows one pair at a time, as
            // the engine runs them.
            double[] eightTruth = [];
            Action patchEight = () => eightTruth = PatchingEvaluation.MeanOverPairs([.. PairState.BuildMany(model, alternating, sites, null, false, new CostLedger(), out _, gradients: false)
                .Select(x => ActivationPatching.Estimate(Phi(x), all, new CostLedger()))]);
            var patchedEight = Time("patching, all heads, 8 pairs, end to end", 8L * (heads.Count + 2), patchEight);
            ScreenFlagFix("all heads, 8 pairs", heads, eightTruth, patchedEight, patchEight, 3, pairs: alternating, defaultScreenOnly: true);
        }

        // Screen–Flag–Fix end to end with each cheap screen (or the default only), and with the default screen and the
        // second-order fix (a report: the default fixes by patching), against patching the same components of the same
        // pairs (one unless given): time, top-5 agreement, and where its time goes, stage by stage, from its own cost
        // ledger (of the last timed run).
        void ScreenFlagFix(string what, IReadOnlyList<Component> components, double[] exact, BenchRow patching, Action patchingRun, double target,
            BenchRow? fullForwardPatching = null, PromptPair[]? pairs = null, bool defaultScreenOnly = false, BenchRow? patchingRowsAlone = null)
        {
            var defaults = new AttributionOptions();
            var screens = defaultScreenOnly ? [defaults.Screen] : new[] { CurvatureScreen.Hutchinson, CurvatureScreen.GradientDifference };
            foreach (var (screen, fix) in screens.Select(x => (x, defaults.Fix)).Append((defaults.Screen, FixMethod.SecondOrder)))
            {
                string name = (screen == CurvatureScreen.Hutchinson ? "Hutchinson screen" : "gradient-difference screen")
                    + (fix != defaults.Fix ? ", second-order fix" : screen == defaults.Screen ? " (default)" : "");
                AttributionResult? result = null;
                var options = new AttributionOptions { MaxRowsPerChunk = maxRows, Screen = screen, Fix = fix };
                Action run = () => result = new AttributionEngine(model, options).Run(pairs ?? [shape.Pair], components);
                var sff = Time($"Screen–Flag–Fix, {what}, {name}", 0, run);
                foreach (var (stage, spent) in result!.Cost)
                    rows.Add(new BenchRow(shape.Name, $"  SFF {what}, {name}: stage {stage} ({spent.Forwards}F + {spent.Backwards}B)", spent.Seconds, spent.Rows));
                double speedUp = AlternatingRatio(patching.Seconds / sff.Seconds, patchingRun, run, repeats);
                string ratioName = $"patching end to end / Screen–Flag–Fix, {what}, {name}";
                bool byDefault = fix == defaults.Fix;
                ratios.Add(byDefault ? Ratio(shape.Name, ratioName, speedUp, target, lower: false) : new(shape.Name, ratioName, speedUp, "report", true));
                // Earlier runs compared with patching's rows alone, its clean and corrupted forward left out.
                if (byDefault && patchingRowsAlone is not null)
                    ratios.Add(new(shape.Name, $"patching's rows alone (cached start) / Screen–Flag–Fix, {what}, {name}", patchingRowsAlone.Seconds / sff.Seconds, "report", true));
                // The reference patched with full forwards; the target above is against our cached patching.
                if (byDefault && fullForwardPatching is not null)
                    ratios.Add(new(shape.Name, $"patching by full forwards (the reference's method) / Screen–Flag–Fix, {what}, {name}",
                        fullForwardPatching.Seconds / sff.Seconds, "report", true));
                ratios.Add(new(shape.Name, $"Screen–Flag–Fix top-5 agreement with patching, {what}, {name}",
                    PatchingEvaluation.TopKOverlap([.. result!.Components.Select(x => x.Estimate)], exact, 5), "report", true));
            }
        }
    }

    /// <summary>
    /// Rounds of alternating runs: of an operation under a second and the reference's, when one is timed beside the
    /// bench; and of patching and Screen–Flag–Fix, the two timings behind a target ratio.
    /// </summary>
    public const int AlternatingRounds = 3;

    // The median of `runs` timed runs.
    private static double Median(int runs, Action action)
    {
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            // Finalizers free native tensors; left pending they would run on the finalizer thread, during the
            // timed run, on one of the two cores.
            Settle();
            var watch = Stopwatch.StartNew();
            using (var scope = NewDisposeScope()) action();
            times.Add(watch.Elapsed.TotalSeconds);
        }
        return MedianOf(times);
    }

    private static double MedianOf(List<double> values) => values.Order().ElementAt(values.Count / 2);

    // numerator / denominator over rounds of `numeratorRuns` numerator runs then `repeats` denominator runs (medians),
    // back to back, so the machine's drift (tens of percent within a minute) hits both sides of each round alike; the
    // median round's ratio, `first` (the two timings made apart) counting as one round.
    private static double AlternatingRatio(double first, Action numerator, Action denominator, int repeats, int numeratorRuns = 1)
    {
        List<double> rounds = [first];
        for (int round = 1; round < AlternatingRounds; round++)
            rounds.Add(Median(numeratorRuns, numerator) / Median(repeats, denominator));
        return MedianOf(rounds);
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    private static BenchRatio Ratio(string shape, string name, double value, double target, bool lower) =>
        new(shape, name, value, (lower ? "≤ " : "≥ ") + target.ToString(System.Globalization.CultureInfo.InvariantCulture), lower ? value <= target : value >= target);

    private static void ForwardBackward(HookedTransformer model, ModelInput input, IMetric metric, IReadOnlyList<Site> sites)
    {
        var plan = new HookPlan(model.Config);
        var offsets = sites.Select(s => zeros([input.Batch, .. s.Shape(model.Config, (int)input.Positions)], dtype: model.DType, device: model.Device, requires_grad: true)).ToList();
        for (int i = 0; i < sites.Count; i++) plan.Add(new AddOffset(sites[i], offsets[i]));
        var m = metric.Measure(model, input, plan).sum();
        autograd.grad([m], offsets, retain_graph: false, allow_unused: true);
    }
}
