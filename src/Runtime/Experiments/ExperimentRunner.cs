using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Experiments;

/// <summary>
/// Runs a generated <see cref="ExperimentPlan"/>: checks the model against the shape the plan was compiled for, draws
/// prompt pairs from the template, corrupts them as declared, and runs the engine on the circuit's components only.
/// </summary>
public static class ExperimentRunner
{
    /// <summary>Runs <paramref name="plan"/> on <paramref name="model"/>.</summary>
    /// <remarks>See <see cref="AttributionEngine.Run"/> for how to report <paramref name="progress"/>.</remarks>
    public static AttributionResult Run(HookedTransformer model, ITextTokenizer tokenizer, ExperimentPlan plan, IProgress<AttributionProgress>? progress = null)
    {
        CheckShape(model, plan);
        var pairs = Pairs(tokenizer, plan);
        var components = plan.Groups.SelectMany(g => g.Components).Select(ToComponent).ToList();
        var options = new AttributionOptions
        {
            Metric = ToMetricKind(plan.Metric), Tau = plan.Tau, K = plan.K, IgSteps = plan.IgSteps,
            Fix = plan.Fix == FixBy.SecondOrder ? FixMethod.SecondOrder : FixMethod.Patching,
        };
        if (plan.Method != Estimator.ScreenFlagFix) options = options with { ScreenFlagFix = false, Methods = ToMethods(plan.Method) };
        if (plan.CompareWithPatching) options = options with { Methods = options.Methods | Methods.Patching };
        return new AttributionEngine(model, options).Run(pairs, components, $"{plan.Name} ({plan.Circuit})", progress);
    }

    /// <summary>Each of the plan's declared edges measured by path patching (<see cref="EdgePatching"/>) on its pairs.</summary>
    public static IReadOnlyList<EdgeEffect> Edges(HookedTransformer model, ITextTokenizer tokenizer, ExperimentPlan plan)
    {
        if (plan.Edges.Count == 0) return [];
        CheckShape(model, plan);
        var patching = new EdgePatching(model, Pairs(tokenizer, plan), ToMetricKind(plan.Metric));
        return [.. plan.Edges.Select(e => patching.Of(e, plan.Groups))];
    }

    /// <summary>The engine's component for a DSL component reference.</summary>
    public static Component ToComponent(ComponentRef c) => new(c.Kind, c.Layer, c.Index, c.Position < 0 ? null : c.Position);

    /// <summary>Draws the plan's prompt pairs: every combination of slot values with distinct answer and wrong values
    /// (any, for a plan without a wrong slot; with no answer slot either, for the KL metric, both are 0; with
    /// <see cref="ExperimentPlan.AnswerSets"/>, its sets) and, for a swap, distinct swapped values (else it corrupts
    /// nothing), shuffled with the plan's seed, the first <see cref="ExperimentPlan.Pairs"/> kept.</summary>
    public static IReadOnlyList<PromptPair> Pairs(ITextTokenizer tokenizer, ExperimentPlan plan)
    {
        var random = new Random(plan.Seed);
        var fills = Combinations(plan.Slots.ToList(), 0, new Dictionary<string, string>())
            .Where(f => plan.WrongSlot.Length == 0 || plan.AnswerSlot.Length == 0 || f[plan.AnswerSlot] != f[plan.WrongSlot])
            .Where(f => plan.Perturbation != PerturbationKind.SwapSlot || f[plan.SwapSlot] != f[plan.SwapWith])
            .OrderBy(_ => random.Next()).Take(plan.Pairs).ToList();
        if (fills.Count == 0)
        {
            List<string> distinct = [];
            if (plan.WrongSlot.Length > 0 && plan.AnswerSlot.Length > 0) distinct.Add($"{plan.AnswerSlot} and {plan.WrongSlot}");
            if (plan.Perturbation == PerturbationKind.SwapSlot) distinct.Add($"swapped {plan.SwapSlot} and {plan.SwapWith}");
            throw new AttributionInputException($"Experiment {plan.Name}: no slot combination has distinct {string.Join(", and distinct ", distinct)}.");
        }
        return [.. fills.Select(f => MakePair(tokenizer, plan, f, random))];
    }

    private static PromptPair MakePair(ITextTokenizer tokenizer, ExperimentPlan plan, Dictionary<string, string> fill, Random random)
    {
        string clean = Fill(plan.Template, fill, null);
        var cleanIds = tokenizer.Encode(clean);
        IReadOnlyList<int> corrupted = plan.Perturbation switch
        {
            PerturbationKind.SwapSlot => tokenizer.Encode(Fill(plan.Template, fill, (plan.SwapSlot, fill[plan.SwapWith]))),
            PerturbationKind.Function => tokenizer.Encode(plan.Corrupt!(clean, random)),
            _ => RandomTokens(cleanIds, plan.RandomPositions, tokenizer.VocabSize, random),
        };
        int Token(string value) => PromptPair.SingleToken(tokenizer, plan.AnswerPrefix + value);
        if (plan.AnswerSets is { } sets)
        {
            string slots = string.Join(", ", fill.Select(kv => $"{kv.Key} = {kv.Value}"));
            string[] answers, wrongs;
            try { (answers, wrongs) = sets(fill); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new AttributionInputException($"Experiment {plan.Name}: its answer-set function failed for {slots}: {ex.Message}");
            }
            if (answers is null || answers.Length == 0)
                throw new AttributionInputException($"Experiment {plan.Name}: its answer-set function gave no answer for {slots}.");
            return PromptPair.WithSets(cleanIds, corrupted, [.. answers.Select(Token)], [.. (wrongs ?? []).Select(Token)]);
        }
        int answer = plan.AnswerSlot.Length == 0 ? 0 : Token(fill[plan.AnswerSlot]);
        return new PromptPair(cleanIds, corrupted, answer, plan.WrongSlot.Length == 0 ? answer : Token(fill[plan.WrongSlot]));
    }

    private static string Fill(string template, IReadOnlyDictionary<string, string> fill, (string Slot, string Value)? lastOccurrence)
    {
        if (lastOccurrence is { } swap)
        {
            string placeholder = "{" + swap.Slot + "}";
            int at = template.LastIndexOf(placeholder, StringComparison.Ordinal);
            template = template[..at] + swap.Value + template[(at + placeholder.Length)..];
        }
        foreach (var (slot, value) in fill) template = template.Replace("{" + slot + "}", value, StringComparison.Ordinal);
        return template;
    }

    private static int[] RandomTokens(IReadOnlyList<int> clean, IReadOnlyList<int> positions, int vocab, Random random)
    {
        var ids = clean.ToArray();
        foreach (int p in positions)
        {
            if (p >= ids.Length) throw new AttributionInputException($"RandomTokens position {p} is beyond the prompt's {ids.Length} tokens.");
            int id;
            do id = random.Next(vocab); while (id == ids[p]);
            ids[p] = id;
        }
        return ids;
    }

    private static IEnumerable<Dictionary<string, string>> Combinations(List<KeyValuePair<string, string[]>> slots, int index, Dictionary<string, string> prefix)
    {
        if (index == slots.Count) { yield return new Dictionary<string, string>(prefix); yield break; }
        foreach (var value in slots[index].Value)
        {
            prefix[slots[index].Key] = value;
            foreach (var rest in Combinations(slots, index + 1, prefix)) yield return rest;
        }
        prefix.Remove(slots[index].Key);
    }

    private static void CheckShape(HookedTransformer model, ExperimentPlan plan)
    {
        var c = model.Config;
        var s = plan.Model;
        if (c.Layers != s.Layers || c.Heads != s.Heads || c.KvHeads != s.KvHeads || (!c.AttentionOnly && c.Intermediate != s.Neurons))
            throw new AttributionInputException(
                $"Experiment {plan.Name} was compiled against a {s.Family} model with {s.Layers} layers, {s.Heads} heads ({s.KvHeads} kv), {s.Neurons} neurons, " +
                $"but the model given has {c.Layers} layers, {c.Heads} heads ({c.KvHeads} kv), {c.Intermediate} neurons. Point the binding at this model's config.json and rebuild.");
    }

    /// <summary>The engine's metric for a DSL metric.</summary>
    public static MetricKind ToMetricKind(Metric metric) => metric switch
    {
        Metric.ProbabilityDifference => MetricKind.ProbabilityDifference,
        Metric.LogProbability => MetricKind.LogProbability,
        Metric.KlDivergence => MetricKind.KlDivergence,
        _ => MetricKind.LogitDifference,
    };

    private static Methods ToMethods(Estimator method) => method switch
    {
        Estimator.Patching => Methods.Patching,
        Estimator.Atp => Methods.Atp,
        Estimator.Hvp => Methods.Hvp,
        Estimator.MsHvp => Methods.MsHvp,
        Estimator.Ig => Methods.Ig,
        Estimator.AtpStar => Methods.AtpStar,
        Estimator.Gim => Methods.Gim,
        _ => Methods.None,
    };
}
