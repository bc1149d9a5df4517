using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>
/// Byte-level BPE, the tokenizer of GPT-2, GPT-NeoX/Pythia, Qwen2 and Llama-3: text is split into words by a regex,
/// each word's UTF-8 bytes are spelled in GPT-2's printable byte alphabet (a space is <c>Ġ</c>) and merged pair by
/// pair in the order of the merge list. Built on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// </summary>
internal static class ByteLevelBpe
{
    /// <summary>GPT-2's split (the Hugging Face ByteLevel pre-tokenizer's own, used by GPT-2 and GPT-NeoX).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's split (transformers' <c>Qwen2Tokenizer</c>): digits one by one, a non-letter joined to the word after it.</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// A tokenizer from a vocabulary and merges (<c>"left right"</c>, highest priority first) spelled in GPT-2's byte
    /// alphabet, the regex that splits words, the added tokens matched whole before splitting (text → id), and NFC
    /// normalisation first when <paramref name="nfc"/>.
    /// </summary>
    public static Tokenizer Create(IReadOnlyDictionary<string, int> vocabulary, IEnumerable<string> merges, string pattern,
        IReadOnlyDictionary<string, int> addedTokens, bool nfc)
    {
        var added = addedTokens.Count == 0 ? null : addedTokens;
        return BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = merges,
            ByteLevel = true,
            SpecialTokens = added,
            Normalizer = nfc ? new NfcNormalizer() : null,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), added),
        });
    }

    /// <summary>Reads a GPT-2-style <c>vocab.json</c> (token → id) and <c>merges.txt</c> (a <c>#version</c> line, then one merge per line).</summary>
    public static Tokenizer FromFiles(string vocabPath, string mergesPath, string pattern, bool nfc)
    {
        var vocabulary = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))
            ?? throw new Loading.ModelLoadException(vocabPath, "is not a JSON object of token → id.");
        var merges = File.ReadLines(mergesPath).Where(line => line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal)).ToList();
        return Create(vocabulary, merges, pattern, new Dictionary<string, int>(), nfc);
    }

    // Qwen2's tokenizer composes characters (NFC) before splitting.
    private sealed class NfcNormalizer : Normalizer
    {
        public override string Normalize(string original) => original.Normalize(NormalizationForm.FormC);

        public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(NormalizationForm.FormC);
    }
}
