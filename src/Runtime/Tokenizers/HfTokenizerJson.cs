using System.Text.Json;
using CircuitDsl.Runtime.Loading;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> of byte-level BPE — what GPT-2, GPT-NeoX/Pythia, Qwen2 and Llama-3
/// checkpoints ship — into <see cref="ByteLevelBpe"/>: the model's vocabulary and merges, the pre-tokenizer's regex
/// (the ByteLevel pre-tokenizer's own, or a Split before a ByteLevel one), NFC normalisation, the added tokens, and
/// the BOS token the post-processor's template puts first. Anything else is refused with the reason: SentencePiece-style
/// files (Llama-2, Gemma: byte fallback, Metaspace) come with a <c>tokenizer.model</c>, which
/// <see cref="TokenizerLoader"/> reads instead.
/// </summary>
public static class HfTokenizerJson
{
    /// <summary>The tokenizer <paramref name="path"/> describes, for a model with <paramref name="vocabSize"/> embeddings.</summary>
    public static ITextTokenizer Load(string path, int vocabSize) => TryLoad(path, vocabSize, out var refused) ?? throw refused!;

    /// <summary>
    /// As <see cref="Load"/>, but a file that is not a byte-level BPE tokenizer.json (not JSON, not shaped as one, or of
    /// another kind) gives null and, in <paramref name="notByteLevelBpe"/>, the reason, so a caller can look for another
    /// tokenizer; one that is byte-level BPE but broken or made for another model still throws.
    /// </summary>
    public static ITextTokenizer? TryLoad(string path, int vocabSize, out ModelLoadException? notByteLevelBpe)
    {
        notByteLevelBpe = null;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException ex)
        {
            notByteLevelBpe = new ModelLoadException(path, $"is not valid JSON: {ex.Message}", inner: ex);
            return null;
        }
        using (doc)
        {
            var root = doc.RootElement;
            try
            {
                if (Unsupported(root) is { } reason) notByteLevelBpe = new ModelLoadException(path, reason);
            }
            catch (InvalidOperationException ex) { notByteLevelBpe = Malformed(path, ex); }
            if (notByteLevelBpe is not null) return null;

            Dictionary<string, int> vocabulary, added;
            List<string> merges;
            try
            {
                var model = root.GetProperty("model");
                vocabulary = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
                merges = [.. model.GetProperty("merges").EnumerateArray().Select(m => Merge(path, m))];
                added = root.TryGetProperty("added_tokens", out var a) && a.ValueKind == JsonValueKind.Array
                    ? a.EnumerateArray().ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32())
                    : [];
            }
            catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
            {
                throw Malformed(path, ex);
            }
            var ids = vocabulary.Values.Concat(added.Values).Distinct().ToList();
            if (ids.Count == 0) throw new ModelLoadException(path, "its vocabulary is empty.");
            if (ids.Max() is var largest && largest >= vocabSize)
                throw new ModelLoadException(path, $"token id {largest} is beyond the model's {vocabSize} embeddings: the tokenizer belongs to another model.");
            bool nfc = root.TryGetProperty("normalizer", out var n) && n.ValueKind == JsonValueKind.Object;
            string pattern = Pattern(root.GetProperty("pre_tokenizer"))!;
            Microsoft.ML.Tokenizers.Tokenizer tokenizer;
            try { tokenizer = ByteLevelBpe.Create(vocabulary, merges, pattern, added, nfc); }
            catch (ArgumentException ex) when (ex is System.Text.RegularExpressions.RegexParseException)
            {
                throw new ModelLoadException(path, $"its split regex is not one .NET reads ({ex.Message}): {pattern}", inner: ex);
            }
            return new MlTokenizer(tokenizer, vocabSize, Bos(root, added), $"byte-level BPE ({Path.GetFileName(path)}, {ids.Count} tokens)");
        }
    }

    private static ModelLoadException Malformed(string path, Exception ex) =>
        new(path, $"its BPE model is malformed ({ex.Message}); expected model.vocab (token → id), model.merges and added_tokens [{{id, content}}].", inner: ex);

    // Why this reader cannot take the file, or null when it can.
    private static string? Unsupported(JsonElement root)
    {
        if (!root.TryGetProperty("model", out var model) || !model.TryGetProperty("type", out var type))
            return "has no model type; expected a Hugging Face tokenizer.json.";
        if (type.GetString() != "BPE")
            return $"its model is {type.GetString()}; only byte-level BPE (GPT-2, GPT-NeoX, Qwen2, Llama-3) is read from tokenizer.json. Add the checkpoint's tokenizer.model (SentencePiece) or pass token ids.";
        if (model.TryGetProperty("byte_fallback", out var fallback) && fallback.ValueKind == JsonValueKind.True)
            return "is SentencePiece-style BPE (byte fallback, as Llama-2 and Gemma ship); add the checkpoint's tokenizer.model, which is read instead.";
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind != JsonValueKind.Null && TypeOf(normalizer) != "NFC")
            return $"its normalizer {TypeOf(normalizer)} is not supported (none or NFC are).";
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || Pattern(pre) is null)
            return $"its pre-tokenizer {(pre.ValueKind == JsonValueKind.Object ? Describe(pre) : "(none)")} is not supported; expected ByteLevel, or Sequence[Split(regex), ByteLevel], without add_prefix_space.";
        return null;
    }

    // The word-splitting regex: ByteLevel's own, or a Split's before a ByteLevel that does not split again.
    private static string? Pattern(JsonElement pre)
    {
        bool AddsPrefixSpace(JsonElement b) => b.TryGetProperty("add_prefix_space", out var s) && s.ValueKind == JsonValueKind.True;
        bool UsesRegex(JsonElement b) => !b.TryGetProperty("use_regex", out var r) || r.ValueKind != JsonValueKind.False;
        if (TypeOf(pre) == "ByteLevel")
            return !AddsPrefixSpace(pre) && UsesRegex(pre) ? ByteLevelBpe.Gpt2Pattern : null;
        if (TypeOf(pre) != "Sequence" || !pre.TryGetProperty("pretokenizers", out var steps)) return null;
        var parts = steps.EnumerateArray().ToList();
        if (parts.Count != 2 || TypeOf(parts[0]) != "Split" || TypeOf(parts[1]) != "ByteLevel" || AddsPrefixSpace(parts[1]) || UsesRegex(parts[1]))
            return null;
        var split = parts[0];
        bool isolated = split.TryGetProperty("behavior", out var behaviour) && behaviour.GetString() == "Isolated";
        bool inverted = split.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True;
        return isolated && !inverted && split.TryGetProperty("pattern", out var pattern) && pattern.TryGetProperty("Regex", out var regex)
            ? regex.GetString()
            : null;
    }

    // A merge as "left right": older files write it so, newer ones as a two-string array.
    private static string Merge(string path, JsonElement merge)
    {
        if (merge.ValueKind == JsonValueKind.String) return merge.GetString()!;
        var parts = merge.EnumerateArray().Select(p => p.GetString()!).ToArray();
        if (parts.Length != 2 || parts.Any(p => p.Contains(' ')))
            throw new ModelLoadException(path, $"merge {merge} is not two tokens without spaces.");
        return $"{parts[0]} {parts[1]}";
    }

    // The BOS id: the special token the post-processor's template puts before a single sequence (Llama-3), if any.
    private static int? Bos(JsonElement root, IReadOnlyDictionary<string, int> added)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object) return null;
        var templates = TypeOf(post) == "Sequence" && post.TryGetProperty("processors", out var processors)
            ? processors.EnumerateArray().Where(p => TypeOf(p) == "TemplateProcessing").ToList()
            : TypeOf(post) == "TemplateProcessing" ? [post] : [];
        foreach (var template in templates)
            if (template.TryGetProperty("single", out var single) && single.EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } first
                && first.TryGetProperty("SpecialToken", out var special) && added.TryGetValue(special.GetProperty("id").GetString()!, out int id))
                return id;
        return null;
    }

    private static string? TypeOf(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) ? t.GetString() : null;

    private static string Describe(JsonElement pre) => TypeOf(pre) == "Sequence" && pre.TryGetProperty("pretokenizers", out var steps)
        ? $"Sequence[{string.Join(", ", steps.EnumerateArray().Select(TypeOf))}]"
        : TypeOf(pre) ?? "(untyped)";
}
