using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>How one estimator agrees with activation patching.</summary>
/// <param name="Method">Estimator name (atp, hvp, mshvp, ig, atpstar, gim, estimate = Screen–Flag–Fix's final).</param>
/// <param name="TopKOverlap">|top-k(method) ∩ top-k(patching)| / k, ranking by |mean effect|.</param>
/// <param name="Spearman">Spearman rank correlation of mean effects with patching.</param>
/// <param name="MeanAbsError">Mean over pairs and components of |estimate − patching|.</param>
/// <param name="MedianAbsError">Median of the same.</param>
/// <param name="ErrorReductionVsAtp">1 − MeanAbsError / AtP's MeanAbsError (positive = better than AtP).</param>
public sealed record MethodAgreement(string Method, double TopKOverlap, double Spearman, double MeanAbsError, double MedianAbsError, double ErrorReductionVsAtp);

/// <summary>
/// An estimator of "AtP is wrong" and how well it predicts it: AUROC over (pair, component) samples of the label
/// |AtP − Δ| &gt; ½·max(|Δ|, ε·s).
/// </summary>
/// <param name="Score">exact R̃ (<c>rtilde</c>) or a screen's (<c>rtilde.screen.hutchinson</c>, <c>rtilde.screen.gradient_difference</c>).</param>
/// <param name="Auroc">Area under the ROC curve (0.5 = chance); NaN when one class is empty.</param>
/// <param name="Samples">Samples scored.</param>
public sealed record ScreenQuality(string Score, double Auroc, int Samples);

/// <summary>Everything the engine's results say when compared with exact activation patching.</summary>
public sealed record PatchingEvaluation
{
    /// <summary>Per-method agreement.</summary>
    public required IReadOnlyList<MethodAgreement> Methods { get; init; }
    /// <summary>AUROC of exact and cheap reliability scores.</summary>
    public required IReadOnlyList<ScreenQuality> Screens { get; init; }
    /// <summary>Share of MS-HVP estimates whose true Δ lies within estimate ± its estimated bound, allowing float
    /// rounding (<see cref="RoundingAllowance"/>); NaN if MS-HVP was not run.</summary>
    public required double BoundCoverage { get; init; }
    /// <summary>Number of bounded (pair, component) MS-HVP estimates.</summary>
    public required int BoundedSamples { get; init; }
    /// <summary>Mean R̃ (exact where computed, else screened) per layer.</summary>
    public required IReadOnlyList<double> RTildeByLayer { get; init; }
    /// <summary>k used for top-k overlap.</summary>
    public required int TopK { get; init; }

    /// <summary>Computes the evaluation from per-pair values ([pair][component] per method).</summary>
    public static PatchingEvaluation Evaluate(IReadOnlyDictionary<string, double[][]> perPair, IReadOnlyList<Component> components,
        AttributionOptions options, double[] scales, IReadOnlyList<bool> flagged)
    {
        var patching = perPair["patching"];
        int pairs = patching.Length, n = components.Count;
        var values = perPair.ToDictionary(kv => kv.Key, kv => kv.Value);
        // The final estimate per pair (as ComponentEstimate.Estimate): with Screen–Flag–Fix, its fix for flagged
        // components and AtP for the others; without it, the best method computed.
        values["estimate"] = [.. Enumerable.Range(0, pairs).Select(i => Enumerable.Range(0, n).Select(c =>
            ComponentEstimate.EstimateOrder(flagged[c], options.ScreenFlagFix, options.Fix)
                .Select(m => values.TryGetValue(m, out var v) ? v[i][c] : double.NaN).First(x => !double.IsNaN(x))).ToArray())];

        var atpError = MeanAbsError(values["atp"], patching);
        var methods = new List<MethodAgreement>();
        foreach (var method in new[] { "atp", "hvp", "mshvp", "ig", "atpstar", "gim", "estimate" })
        {
            if (!values.TryGetValue(method, out var v) || v.Any(row => row.Any(double.IsNaN))) continue;
            var mean = MeanOverPairs(v);
            var truth = MeanOverPairs(patching);
            double error = MeanAbsError(v, patching);
            methods.Add(new MethodAgreement(method, TopKOverlap(mean, truth, options.EvaluationTopK), Statistics.Spearman(mean, truth),
                error, Statistics.Median(AbsErrors(v, patching)), atpError == 0 ? 0 : 1 - error / atpError));
        }

        var screens = new List<ScreenQuality>();
        foreach (var (name, curvature) in new[] { ("rtilde", "curvature") }.Concat(values.Keys.Where(k => k.StartsWith("screen.", StringComparison.Ordinal)).Select(k => ("rtilde." + k, k))))
        {
            if (!values.TryGetValue(curvature, out var q)) continue;
            var scores = new List<double>();
            var labels = new List<bool>();
            for (int i = 0; i < pairs; i++)
                for (int c = 0; c < n; c++)
                {
                    if (double.IsNaN(q[i][c])) continue;
                    double atp = values["atp"][i][c], truth = patching[i][c];
                    scores.Add(ReliabilityScore.Normalised(atp, q[i][c], options.Epsilon, scales[i]));
                    labels.Add(Math.Abs(atp - truth) > 0.5 * Math.Max(Math.Abs(truth), options.Epsilon * scales[i]));
                }
            if (scores.Count > 0) screens.Add(new ScreenQuality(name, Statistics.Auroc(scores, labels), scores.Count));
        }

        int bounded = 0, covered = 0;
        for (int i = 0; i < pairs; i++)
            for (int c = 0; c < n; c++)
            {
                if (Get(values, "bound.mshvp", i, c) is not { } bound) continue;
                bounded++;
                // The ground truth itself carries float32 rounding (~1e-6 relative on logits); do not count that as a miss.
                if (Math.Abs(patching[i][c] - values["mshvp"][i][c]) <= bound + RoundingAllowance * Math.Max(1, scales[i])) covered++;
            }

        var layers = components.Max(c => c.Layer) + 1;
        var rTildeByLayer = Enumerable.Range(0, layers).Select(l =>
        {
            var samples = new List<double>();
            for (int c = 0; c < n; c++)
            {
                if (components[c].Layer != l) continue;
                string? curvature = Get(values, "curvature", 0, c) is { } ? "curvature"
                    : values.Keys.FirstOrDefault(k => k.StartsWith("screen.", StringComparison.Ordinal) && Get(values, k, 0, c) is { });
                if (curvature is null) continue;
                for (int i = 0; i < pairs; i++)
                    samples.Add(ReliabilityScore.Normalised(values["atp"][i][c], values[curvature][i][c], options.Epsilon, scales[i]));
            }
            return samples.Count == 0 ? double.NaN : samples.Average();
        }).ToList();

        return new PatchingEvaluation
        {
            Methods = methods,
            Screens = screens,
            BoundCoverage = bounded == 0 ? double.NaN : (double)covered / bounded,
            BoundedSamples = bounded,
            RTildeByLayer = rTildeByLayer,
            TopK = options.EvaluationTopK,
        };
    }

    /// <summary>Absolute slack, relative to |M(x) − M(x′)|, for rounding in the patched ground truth.</summary>
    public const double RoundingAllowance = 1e-5;

    private static double? Get(Dictionary<string, double[][]> values, string method, int pair, int component) =>
        values.TryGetValue(method, out var v) && !double.IsNaN(v[pair][component]) ? v[pair][component] : null;

    internal static double[] MeanOverPairs(double[][] v) =>
        [.. Enumerable.Range(0, v[0].Length).Select(c => v.Average(row => row[c]))];

    private static IEnumerable<double> AbsErrors(double[][] v, double[][] truth) =>
        v.SelectMany((row, i) => row.Select((x, c) => Math.Abs(x - truth[i][c])));

    private static double MeanAbsError(double[][] v, double[][] truth) => AbsErrors(v, truth).Average();

    /// <summary>|top-k(a) ∩ top-k(b)| / k by absolute value.</summary>
    public static double TopKOverlap(IReadOnlyList<double> a, IReadOnlyList<double> b, int k)
    {
        Statistics.RequirePaired(a.Count, b.Count);
        k = Math.Min(k, a.Count);
        if (k == 0) return double.NaN;
        var ta = Enumerable.Range(0, a.Count).OrderByDescending(i => Math.Abs(a[i])).Take(k);
        var tb = Enumerable.Range(0, b.Count).OrderByDescending(i => Math.Abs(b[i])).Take(k).ToHashSet();
        return (double)ta.Count(tb.Contains) / k;
    }
}
