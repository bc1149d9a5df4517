using CircuitDsl.Runtime.Evaluation;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// Everything per pair behind a result: each method's [pair][component] values (NaN = not computed), the scale
/// |M(x) − M(x′)| and metrics of each pair, the flags and the screen used. Shards carry it; merging concatenates it
/// and rebuilds the result exactly as a single run would. For the KL divergence, each pair's clean top next-token
/// probability too (its saturation check); null for other metrics.
/// </summary>
public sealed record PairData(
    IReadOnlyDictionary<string, double[][]> Values, double[] Scales, double[] CleanMetrics, double[] CorruptedMetrics, bool[] Flagged, string? ScreenKey,
    double[]? CleanTopProbabilities = null);

/// <summary>Turns per-pair values into an <see cref="AttributionResult"/>: means over pairs, R and R̃, bounds, evaluation.</summary>
public static class ResultBuilder
{
    /// <summary>Builds the result (shared by single runs and merges, so both give the same numbers).</summary>
    public static AttributionResult Build(string model, string metricKind, IReadOnlyList<Component> components, AttributionOptions options,
        PairData data, IReadOnlyDictionary<string, MethodCost> cost)
    {
        var table = PerPairTable.From(data.Values, data.Scales.Length, components.Count);
        var estimates = Enumerable.Range(0, components.Count).Select(c => Summarise(table, data, components[c], c, options)).ToList();
        var result = new AttributionResult
        {
            Model = model,
            MetricKind = metricKind,
            CleanMetric = data.CleanMetrics.Average(),
            CorruptedMetric = data.CorruptedMetrics.Average(),
            Pairs = data.Scales.Length,
            Components = estimates,
            Cost = cost,
            Options = options,
            Data = data,
            Warnings = [.. new[] { Saturation(options.Metric, data.CleanMetrics, data.CleanTopProbabilities), FirstOrderOnly(options) }.OfType<string>()],
        };
        return estimates.All(e => e.Patching is not null)
            ? result with { Evaluation = PatchingEvaluation.Evaluate(data.Values, components, options, data.Scales, data.Flagged) }
            : result;
    }

    /// <summary>
    /// Probability metrics are flat where the softmax saturates: with the answer's probability near 1 every gradient
    /// is near 0, so AtP and the local R̃ read ≈ 0 while patching can move the metric by the whole gap (the IOI toy,
    /// p ≈ 1: AtP 0.000 for every component, patching up to −1.07). The KL divergence's curvature there, the softmax's
    /// Fisher matrix, vanishes too, so its second-order estimate reads ≈ 0 as well. Counts the pairs whose clean run is
    /// within 1 % of saturation.
    /// </summary>
    internal static string? Saturation(MetricKind metric, double[] cleanMetrics, double[]? cleanTopProbabilities = null)
    {
        const double margin = 0.01;
        Func<double, bool> saturated = metric switch
        {
            MetricKind.LogProbability => m => m > Math.Log(1 - margin),
            MetricKind.ProbabilityDifference => m => Math.Abs(m) > 1 - 2 * margin,
            _ => _ => false,
        };
        int count = metric == MetricKind.KlDivergence ? cleanTopProbabilities?.Count(p => p > 1 - margin) ?? 0 : cleanMetrics.Count(saturated);
        if (count == 0) return null;
        string what = metric switch
        {
            MetricKind.LogProbability => "the answer's probability (a set's, where sets are read) is above 0.99",
            MetricKind.KlDivergence => "one token's probability is above 0.99, so the KL's curvature vanishes with its gradient",
            _ => "the answer's or the wrong token's probability (a set's, where sets are read) is above 0.98",
        };
        return $"{count} of {cleanMetrics.Length} pairs have a saturated {AnswerMetric.Name(metric)} on the clean prompt ({what}): its gradients vanish there, so AtP and R̃ read ≈ 0 where patching need not. Use the logit difference (the default), or patching.";
    }

    /// <summary>Under the KL divergence every first-order estimate is ≈ 0 (the clean run is its minimum): says so when
    /// only those ran.</summary>
    internal static string? FirstOrderOnly(AttributionOptions options) =>
        options.Metric == MetricKind.KlDivergence && !options.ScreenFlagFix && (options.Methods & (Methods.Patching | Methods.Hvp | Methods.MsHvp | Methods.Ig)) == 0
            ? "Under kl the clean run is the divergence's minimum, so AtP, GIM and AtP* read ≈ 0 for every component by construction. Use Screen–Flag–Fix (the default), or --methods hvp, mshvp, ig or patching."
            : null;

    internal static double MeanRTilde(PerPairTable t, double[] scales, int c, string curvature, double epsilon) =>
        Enumerable.Range(0, scales.Length).Average(i => ReliabilityScore.Normalised(t.Get("atp", i, c), t.Get(curvature, i, c), epsilon, scales[i]));

    private static ComponentEstimate Summarise(PerPairTable t, PairData data, Component component, int c, AttributionOptions o)
    {
        string? screenKey = data.ScreenKey;
        string? curvature = t.Has("curvature", c) ? "curvature" : screenKey is not null && t.Has(screenKey, c) ? screenKey : null;
        double? Mean(string method) => t.Has(method, c) ? t.Mean(method, c) : null;
        int pairs = data.Scales.Length;
        // The method the estimate comes from (as ComponentEstimate.EstimateMethod reads it), which its bound is for.
        string estimate = ComponentEstimate.EstimateOrder(data.Flagged[c], o.ScreenFlagFix, o.Fix).First(m => m == "atp" || t.Has(m, c));
        return new ComponentEstimate
        {
            Component = component,
            Atp = t.Mean("atp", c),
            Patching = Mean("patching"),
            Hvp = Mean("hvp"),
            MsHvp = Mean("mshvp"),
            Ig = Mean("ig"),
            AtpStar = Mean("atpstar"),
            Gim = Mean("gim"),
            Curvature = Mean("curvature"),
            ScreenedCurvature = screenKey is null ? null : Mean(screenKey),
            R = curvature is null ? null : Enumerable.Range(0, pairs).Average(i => ReliabilityScore.Ratio(t.Get("atp", i, c), t.Get(curvature, i, c), o.Epsilon)),
            RTilde = curvature is null ? null : MeanRTilde(t, data.Scales, c, curvature, o.Epsilon),
            Flagged = data.Flagged[c],
            ScreenFlagFix = o.ScreenFlagFix,
            Fix = o.Fix,
            LocalCurvature = component.Kind is ComponentKind.Query or ComponentKind.Key ? Mean("curvature.local")
                : component.Kind == ComponentKind.Residual || !t.Has("curvature", c) ? null : 0.0,
            // The bound of the estimate given: 0 for an exact one, MS-HVP's remainder for MS-HVP's, else |q| (AtP's, and HVP's).
            Bound = estimate == "patching" ? 0
                : estimate == "mshvp" && t.Has("bound.mshvp", c) ? t.Mean("bound.mshvp", c)
                : curvature is null ? null : Enumerable.Range(0, pairs).Average(i => Math.Abs(t.Get(curvature, i, c))),
        };
    }
}
