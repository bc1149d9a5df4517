using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Datasets;

/// <summary>
/// IOI-style name-swap pairs: a template with slots {A} and {B} and fillers for the other slots. The clean prompt
/// names B as the giver, so the answer is A; the corruption names A as the giver, so the answer flips to B.
/// Names must be single tokens so clean and corrupted prompts align position by position.
/// </summary>
public static class NameSwap
{
    /// <summary>Templates that tiny story models have seen the like of.</summary>
    public static IReadOnlyList<string> StoryTemplates { get; } =
    [
        "{A} and {B} went to the {place}. {B} gave the {thing} to",
        "{A} and {B} were playing in the {place}. {B} gave a {thing} to",
        "One day, {A} and {B} went to the {place}. {B} gave the {thing} to",
        "{A} and {B} found a {thing} in the {place}. {B} gave it to",
    ];

    /// <summary>Fillers for the non-name slots.</summary>
    public static IReadOnlyDictionary<string, string[]> StoryFillers { get; } = new Dictionary<string, string[]>
    {
        ["place"] = ["park", "garden", "house"],
        ["thing"] = ["ball", "toy", "flower"],
    };

    /// <summary>Builds pairs for every template, filler combination and ordered pair of names.</summary>
    public static IReadOnlyList<PromptPair> Build(ITextTokenizer tokenizer, IReadOnlyList<string> names,
        IReadOnlyList<string>? templates = null, IReadOnlyDictionary<string, string[]>? fillers = null)
    {
        templates ??= StoryTemplates;
        fillers ??= StoryFillers;
        if (names.Count < 2) throw new AttributionInputException("A name swap needs at least two names.");
        var ids = names.ToDictionary(n => n, n => PromptPair.SingleToken(tokenizer, " " + n));
        var pairs = new List<PromptPair>();
        foreach (var template in templates)
            foreach (var filled in Fill(template, fillers))
                foreach (var a in names)
                    foreach (var b in names.Where(b => b != a))
                    {
                        string clean = filled.Replace("{A}", a).Replace("{B}", b);
                        int giver = clean.LastIndexOf(b, StringComparison.Ordinal);
                        string corrupted = clean[..giver] + a + clean[(giver + b.Length)..];
                        var pair = new PromptPair(tokenizer.Encode(clean), tokenizer.Encode(corrupted), ids[a], ids[b]);
                        if (pair.Clean.Count == pair.Corrupted.Count) pairs.Add(pair);
                    }
        return pairs;
    }

    private static IEnumerable<string> Fill(string template, IReadOnlyDictionary<string, string[]> fillers)
    {
        var slot = fillers.Keys.FirstOrDefault(k => template.Contains("{" + k + "}", StringComparison.Ordinal));
        if (slot is null) { yield return template; yield break; }
        foreach (var value in fillers[slot])
            foreach (var rest in Fill(template.Replace("{" + slot + "}", value), fillers))
                yield return rest;
    }
}
