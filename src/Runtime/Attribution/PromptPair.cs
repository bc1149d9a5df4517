using System.Text.Json;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>A clean prompt, its corruption, and the tokens the metric reads at the last position (<see cref="AnswerMetric"/>).</summary>
/// <param name="Clean">Clean token ids (BOS included if the model uses one).</param>
/// <param name="Corrupted">Corrupted token ids; same length as <paramref name="Clean"/>.</param>
/// <param name="Answer">Token id of the correct answer on the clean prompt (not read by the KL metric, which compares
/// whole distributions; 0 when not given).</param>
/// <param name="Wrong">Token id of the competing answer (correct on the corrupted prompt); the log-probability metric
/// does not read it, and it may then equal <paramref name="Answer"/>.</param>
public sealed record PromptPair(IReadOnlyList<int> Clean, IReadOnlyList<int> Corrupted, int Answer, int Wrong)
{
    /// <summary>A pair whose metric reads sets of tokens: <paramref name="answers"/> (Greater-Than: every year above
    /// YY) against <paramref name="wrongs"/> (the years up to YY; empty for a metric that reads none). Probabilities sum
    /// over a set, logits average, and the log-probability is the set's.</summary>
    public static PromptPair WithSets(IReadOnlyList<int> clean, IReadOnlyList<int> corrupted, IReadOnlyList<int> answers, IReadOnlyList<int> wrongs)
    {
        if (answers.Count == 0) throw new AttributionInputException("The answer set is empty; give at least one token.");
        int answer = answers[0], wrong = wrongs.Count > 0 ? wrongs[0] : answer;
        return new(clean, corrupted, answer, wrong)
        {
            AnswerSet = answers.Count > 1 ? answers : null,
            WrongSet = wrongs.Count > 1 ? wrongs : null,
        };
    }

    /// <summary>Every answer token, when the metric reads a set (see <see cref="WithSets"/>); null for <see cref="Answer"/> alone.</summary>
    public IReadOnlyList<int>? AnswerSet { get; init; }

    /// <summary>Every wrong token, when the metric reads a set; null for <see cref="Wrong"/> alone.</summary>
    public IReadOnlyList<int>? WrongSet { get; init; }

    /// <summary>The answer tokens the metric reads: <see cref="AnswerSet"/>, else <see cref="Answer"/>.</summary>
    public IReadOnlyList<int> AnswerTokens => AnswerSet ?? [Answer];

    /// <summary>The wrong tokens the metric reads: <see cref="WrongSet"/>, else <see cref="Wrong"/>.</summary>
    public IReadOnlyList<int> WrongTokens => WrongSet ?? [Wrong];

    /// <summary>
    /// The first position where the prompts differ (0 when they do not): attention is causal, so every activation
    /// before it is the same in both runs and patching changes nothing there.
    /// </summary>
    public int FirstDifference => Math.Max(0, Enumerable.Range(0, Math.Min(Clean.Count, Corrupted.Count)).FirstOrDefault(i => Clean[i] != Corrupted[i], -1));

    /// <summary>Checks the pairs <paramref name="method"/> is given: at least one, each as <see cref="Validate"/> says.</summary>
    public static void ValidateAll(IReadOnlyList<PromptPair> pairs, int vocabSize, string method, MetricKind metric = MetricKind.LogitDifference)
    {
        if (pairs.Count == 0) throw new AttributionInputException($"{method} needs at least one prompt pair.");
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(vocabSize, i, metric);
    }

    /// <summary>Checks lengths and vocabulary (and, for metrics that read it, a wrong token other than the answer);
    /// throws <see cref="AttributionInputException"/> with what to fix.</summary>
    public void Validate(int vocabSize, int index = 0, MetricKind metric = MetricKind.LogitDifference)
    {
        if (Clean.Count == 0)
            throw new AttributionInputException($"Pair {index}: the clean prompt is empty.");
        if (Clean.Count != Corrupted.Count)
            throw new AttributionInputException($"Pair {index}: clean and corrupted prompts must tokenise to the same length (clean {Clean.Count} tokens, corrupted {Corrupted.Count}); activation differences are taken position by position.");
        foreach (int id in Clean.Concat(Corrupted).Concat(AnswerTokens).Concat(WrongTokens))
            if (id < 0 || id >= vocabSize)
                throw new AttributionInputException($"Pair {index}: token id {id} is outside the vocabulary 0..{vocabSize - 1}.");
        foreach (var (set, name) in new[] { (AnswerSet, "answer"), (WrongSet, "wrong") })
            if (set?.GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new AttributionInputException($"Pair {index}: token {twice.Key} is listed twice in the {name} set; a set counts each token once.");
        // Either would give every estimate and every patch 0, silently.
        if (AnswerSet is null && WrongSet is null && Answer == Wrong && AnswerMetric.ReadsWrongToken(metric))
            throw new AttributionInputException($"Pair {index}: the answer and the wrong token are the same ({Answer}), so the {(metric == MetricKind.LogitDifference ? "logit" : "probability")} difference is 0 in every run; give a competing token, or measure the answer's log-probability.");
        if (AnswerMetric.ReadsWrongToken(metric) && AnswerTokens.Intersect(WrongTokens).ToArray() is [int shared, ..] && (AnswerSet is not null || WrongSet is not null))
            throw new AttributionInputException($"Pair {index}: token {shared} is both an answer and a wrong token; the sets must not overlap.");
        if (Clean.SequenceEqual(Corrupted))
            throw new AttributionInputException($"Pair {index}: the clean and corrupted prompts are the same tokens, so no activation differs between them; corrupt the prompt.");
    }

    /// <summary>Builds a pair from text, requiring single-token answers.</summary>
    public static PromptPair FromText(ITextTokenizer tokenizer, string clean, string corrupted, string answer, string wrong) =>
        new(tokenizer.Encode(clean), tokenizer.Encode(corrupted), SingleToken(tokenizer, answer), SingleToken(tokenizer, wrong));

    /// <summary>The id of a token given as text (" Mary") or as a number ("#5335").</summary>
    public static int SingleToken(ITextTokenizer tokenizer, string token)
    {
        if (token.StartsWith('#') && int.TryParse(token.AsSpan(1), out int id)) return id;
        var ids = tokenizer.Encode(token, addBos: false);
        // SentencePiece-style tokenizers add a dummy-prefix space piece of their own; it is not part of the answer.
        if (tokenizer.AddsDummyPrefix && ids.Count == 2 && tokenizer.TokenText(ids[0]) == " ") ids = [ids[1]];
        if (ids.Count != 1)
            throw new AttributionInputException($"Answer '{token}' is {ids.Count} tokens ({string.Join(", ", ids)}); the metric needs a single token. Try another word, a leading space, or '#id'.");
        return ids[0];
    }

    /// <summary>Reads pairs from JSON lines: <c>{"clean":…, "corrupted":…, "answer":…, "wrong":…}</c> (text), or the
    /// same keys with id arrays / ids. "answer" and "wrong" may each be an array of tokens (text or ids), a set the
    /// metric reads as one (<see cref="WithSets"/>). A token the metric does not read may be left out: "wrong" for
    /// <see cref="MetricKind.LogProbability"/>, both for <see cref="MetricKind.KlDivergence"/> (they are then 0, unread).</summary>
    public static IReadOnlyList<PromptPair> ReadJsonl(string path, ITextTokenizer? tokenizer, MetricKind metric = MetricKind.LogitDifference)
    {
        if (!File.Exists(path)) throw new AttributionInputException($"{path}: file not found.");
        var pairs = new List<PromptPair>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                using var doc = JsonDocument.Parse(text);
                var e = doc.RootElement;
                var (clean, corrupted) = (Ids(e, "clean"), Ids(e, "corrupted"));
                bool Has(string key) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out _);
                IReadOnlyList<int> answers = AnswerMetric.ReadsAnswerToken(metric) || Has("answer") ? Tokens(e, "answer") : [0];
                IReadOnlyList<int> wrongs = AnswerMetric.ReadsWrongToken(metric) || Has("wrong") ? Tokens(e, "wrong") : [];
                pairs.Add(WithSets(clean, corrupted, answers, wrongs));
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                throw new AttributionInputException($"{path}:{line}: {ex.Message}; expected {{\"clean\", \"corrupted\", \"answer\", \"wrong\"}}.");
            }
        }
        if (pairs.Count == 0) throw new AttributionInputException($"{path}: no prompt pairs.");
        return pairs;

        IReadOnlyList<int> Ids(JsonElement e, string key)
        {
            var v = Field(e, key);
            if (v.ValueKind == JsonValueKind.Array) return v.EnumerateArray().Select(x => x.GetInt32()).ToList();
            return (tokenizer ?? throw new AttributionInputException($"{path}:{line}: '{key}' is text but the model has no tokenizer; give token ids.")).Encode(v.GetString()!);
        }

        JsonElement Field(JsonElement e, string key) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) ? v
            : throw new AttributionInputException($"{path}:{line}: no \"{key}\"; expected {{\"clean\", \"corrupted\", \"answer\", \"wrong\"}}.");

        // One token, or a set of them as an array; each an id or a one-token text.
        IReadOnlyList<int> Tokens(JsonElement e, string key)
        {
            var v = Field(e, key);
            int Token(JsonElement t) => t.ValueKind == JsonValueKind.Number ? t.GetInt32()
                : SingleToken(tokenizer ?? throw new AttributionInputException($"{path}:{line}: '{key}' is text but the model has no tokenizer; give token ids."), t.GetString()!);
            return v.ValueKind == JsonValueKind.Array ? [.. v.EnumerateArray().Select(Token)] : [Token(v)];
        }
    }
}

/// <summary>Attribution was asked something it cannot answer (bad pairs, empty component set, NaN activations).</summary>
public sealed class AttributionInputException(string message) : ArgumentException(message);
