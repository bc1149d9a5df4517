using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;

namespace CircuitDsl.Runtime.Sharding;

/// <summary>
/// Embarrassingly parallel attribution: each shard runs the engine on its pairs (or components) and writes a
/// <see cref="PartialResult"/>; <see cref="Merge"/> concatenates partials back into exactly the single-run result.
/// Screen–Flag–Fix's flag stage needs statistics over all pairs, so shards compute per-component estimators only.
/// </summary>
public static class ShardedAttribution
{
    /// <summary>The CircuitDsl version written into partials.</summary>
    public static string Version => typeof(ShardedAttribution).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Runs one shard.</summary>
    public static PartialResult RunShard(HookedTransformer model, string modelPath, IReadOnlyList<PromptPair> pairs, IReadOnlyList<Component> components,
        AttributionOptions options, ShardSpec shard, IProgress<AttributionProgress>? progress = null)
    {
        if (options.ScreenFlagFix)
            throw new ArgumentException("Screen–Flag–Fix decides flags from statistics over all pairs; shard per-component estimators instead (--no-sff --methods patching,atp,hvp,…), then merge.");
        var indices = shard.Owned(shard.Axis == ShardAxis.Pairs ? pairs.Count : components.Count);
        if (indices.Length == 0) throw new ArgumentException($"Shard {shard.Index}/{shard.Count} owns nothing: there are fewer {shard.Axis.ToString().ToLowerInvariant()} than shards.");
        var myPairs = shard.Axis == ShardAxis.Pairs ? [.. indices.Select(i => pairs[i])] : pairs;
        var myComponents = shard.Axis == ShardAxis.Components ? [.. indices.Select(i => components[i])] : components;
        var result = new AttributionEngine(model, options).Run(myPairs, myComponents, modelPath, progress);
        var data = result.Data!;
        return new PartialResult
        {
            Version = Version,
            Model = modelPath,
            ModelFingerprint = PartialResult.Fingerprint(modelPath),
            OptionsFingerprint = PartialResult.Fingerprint(options),
            ShardIndex = shard.Index,
            ShardCount = shard.Count,
            Axis = shard.Axis,
            TotalPairs = pairs.Count,
            AllComponents = [.. components.Select(c => c.Id)],
            Indices = indices,
            MetricKind = result.MetricKind,
            Values = data.Values.ToDictionary(kv => kv.Key, kv => kv.Value),
            Scales = data.Scales,
            CleanMetrics = data.CleanMetrics,
            CorruptedMetrics = data.CorruptedMetrics,
            CleanTopProbabilities = data.CleanTopProbabilities,
            Cost = result.Cost.ToDictionary(kv => kv.Key, kv => kv.Value),
            Options = options,
        };
    }

    /// <summary>Merges every shard of one run into the result a single run gives; refuses mismatched partials.</summary>
    public static AttributionResult Merge(IReadOnlyList<PartialResult> partials)
    {
        if (partials.Count == 0) throw new ArgumentException("Nothing to merge.");
        var first = partials[0];
        foreach (var p in partials)
        {
            void Same<T>(T a, T b, string what)
            {
                if (!EqualityComparer<T>.Default.Equals(a, b))
                    throw new ArgumentException($"Shard {p.ShardIndex}/{p.ShardCount} has a different {what} ({b} vs {a}); partials must come from one run.");
            }
            Same(first.Version, p.Version, "CircuitDsl version");
            Same(first.ModelFingerprint, p.ModelFingerprint, "model (fingerprint)");
            Same(first.OptionsFingerprint, p.OptionsFingerprint, "configuration (options fingerprint)");
            Same(first.ShardCount, p.ShardCount, "shard count");
            Same(first.Axis, p.Axis, "shard axis");
            Same(first.TotalPairs, p.TotalPairs, "number of pairs");
            Same(string.Join(",", first.AllComponents), string.Join(",", p.AllComponents), "component list");
        }
        var missing = Enumerable.Range(0, first.ShardCount).Except(partials.Select(p => p.ShardIndex)).ToList();
        var duplicate = partials.GroupBy(p => p.ShardIndex).FirstOrDefault(g => g.Count() > 1);
        if (missing.Count > 0) throw new ArgumentException($"Missing shards: {string.Join(", ", missing.Select(i => $"{i}/{first.ShardCount}"))}.");
        if (duplicate is not null) throw new ArgumentException($"Shard {duplicate.Key}/{first.ShardCount} given twice.");

        int pairs = first.TotalPairs, n = first.AllComponents.Length;
        var methods = partials.SelectMany(p => p.Values.Keys).Distinct().ToList();
        var values = methods.ToDictionary(m => m, _ => Enumerable.Range(0, pairs).Select(_ => Enumerable.Repeat(double.NaN, n).ToArray()).ToArray());
        var scales = new double[pairs];
        var clean = new double[pairs];
        var corrupted = new double[pairs];
        var top = first.CleanTopProbabilities is null ? null : new double[pairs];
        foreach (var p in partials)
        {
            for (int local = 0; local < (first.Axis == ShardAxis.Pairs ? p.Indices.Length : pairs); local++)
            {
                int pair = first.Axis == ShardAxis.Pairs ? p.Indices[local] : local;
                scales[pair] = p.Scales[local];
                clean[pair] = p.CleanMetrics[local];
                corrupted[pair] = p.CorruptedMetrics[local];
                if (top is not null && p.CleanTopProbabilities is { } tops) top[pair] = tops[local];
                foreach (var (method, rows) in p.Values)
                {
                    if (first.Axis == ShardAxis.Pairs) Array.Copy(rows[local], values[method][pair], n);
                    else for (int j = 0; j < p.Indices.Length; j++) values[method][pair][p.Indices[j]] = rows[local][j];
                }
            }
        }
        var cost = new CostLedger();
        foreach (var (method, c) in partials.SelectMany(p => p.Cost)) cost.Add(method, c.Forwards, c.Backwards, c.Rows, c.Seconds);
        var components = first.AllComponents.Select(Component.Parse).ToList();
        var data = new PairData(values, scales, clean, corrupted, new bool[n], null, top);
        return ResultBuilder.Build(first.Model, first.MetricKind, components, first.Options, data, cost.ByMethod);
    }
}
