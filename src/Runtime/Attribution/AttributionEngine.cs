using CircuitDsl.Runtime.Models;
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
        _options.Validate();
        Validate(pairs, components, _options.Metric);
        using var gc = GcPause.Enter();
        using var scope = NewDisposeScope();
        using var run = new EngineRun(model, _options, pairs, components, progress);
        run.Screen();
        run.EstimateEveryComponent();
        var flagged = _options.ScreenFlagFix ? run.FlagAndFix() : new bool[components.Count];
        run.DiagnoseCurvature();
        return run.Result(modelName, flagged);
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
}
