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
        foreach (int id in Clean.Concat(Corrupted).Append(Answer).Append(Wrong))
            if (id < 0 || id >= vocabSize)
                throw new AttributionInputException($"Pair {index}: token id {id} is outside the vocabulary 0..{vocabSize - 1}.");
        // Either would give every estimate and every patch 0, silently.
        if (Answer == Wrong && AnswerMetric.ReadsWrongToken(metric))
            throw new AttributionInputException($"Pair {index}: the answer and the wrong token are the same ({Answer}), so the {(metric == MetricKind.LogitDifference ? "logit" : "probability")} difference is 0 in every run; give a competing token, or measure the answer's log-probability.");
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
    /// same keys with id arrays / ids. A token the metric does not read may be left out: "wrong" for
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
                int answer = AnswerMetric.ReadsAnswerToken(metric) || Has("answer") ? Id(e, "answer") : 0;
                pairs.Add(new PromptPair(clean, corrupted, answer, AnswerMetric.ReadsWrongToken(metric) || Has("wrong") ? Id(e, "wrong") : answer));
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

        int Id(JsonElement e, string key)
        {
            var v = Field(e, key);
            if (v.ValueKind == JsonValueKind.Number) return v.GetInt32();
            return SingleToken(tokenizer ?? throw new AttributionInputException($"{path}:{line}: '{key}' is text but the model has no tokenizer; give a token id."), v.GetString()!);
        }
    }
}

/// <summary>Attribution was asked something it cannot answer (bad pairs, empty component set, NaN activations).</summary>
public sealed class AttributionInputException(string message) : ArgumentException(message);
