using System.Text.Json;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Tokenizers;
using Microsoft.ML.Tokenizers;

namespace CircuitDsl.Runtime.Tests.Tokenizers;

/// <summary>
/// Byte-level BPE from tokenizer.json and vocab.json + merges.txt, against tiktoken: the GPT-2 and cl100k vocabularies
/// rewritten as Hugging Face files (<see cref="TiktokenAsHf"/>) must encode every text as tiktoken does.
/// </summary>
public sealed class HfTokenizerJsonTests : IDisposable
{
    private const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly string[] Texts =
    [
        "When Mary and John went to the store, John gave a drink to", " Mary", "Hello world!! 12345 6789 1732",
        "Cafés naïve — “quoted” 日本語 テスト 🙂", "  leading spaces\n\nnew   lines\r\n\ttabs", "I'm can't we'll they've she'd ALL'S",
        "x=3.14159; y=[1,2,3]", "((nested)) {braces} <tags/>", "   ", "a",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("cdsl-hftok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Gpt2_tokenizer_json_encodes_and_decodes_as_tiktoken_gpt2()
    {
        var gpt2 = TiktokenAsHf.Gpt2.Value;
        Write(new
        {
            model = new { type = "BPE", vocab = gpt2.Vocabulary, merges = gpt2.Merges.Select(m => $"{m.Left} {m.Right}") },
            added_tokens = new[] { new { id = 50256, content = "<|endoftext|>", special = true } },
            normalizer = (object?)null,
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            post_processor = new { type = "ByteLevel" },
        });
        var tokenizer = TokenizerLoader.Load(_dir, Config(ModelFamily.Gpt2, 50257));
        var tiktoken = TiktokenTokenizer.CreateForModel("gpt2");

        tokenizer.BosId.Should().BeNull("GPT-2 puts no token first");
        tokenizer.Description.Should().Be("byte-level BPE (tokenizer.json, 50257 tokens)");
        foreach (string text in Texts)
        {
            tokenizer.Encode(text).Should().Equal(tiktoken.EncodeToIds(text), $"'{text}' encodes as tiktoken does");
            tokenizer.Decode(tokenizer.Encode(text)).Should().Be(text);
        }
        tokenizer.Encode(" Mary").Should().Equal(5335);
        tokenizer.Encode("Hi<|endoftext|>").Should().Equal([.. tiktoken.EncodeToIds("Hi"), 50256], "added tokens are matched whole");
    }

    [Fact]
    public void A_tokenizer_json_that_splits_by_its_own_regex_normalises_and_puts_its_bos_first_as_llama3_does()
    {
        var cl100k = TiktokenAsHf.Cl100k.Value;
        int bos = cl100k.Vocabulary.Count;
        Write(new
        {
            model = new { type = "BPE", vocab = cl100k.Vocabulary, merges = cl100k.Merges.Select(m => new[] { m.Left, m.Right }), ignore_merges = true },
            added_tokens = new[] { new { id = bos, content = "<|begin_of_text|>", special = true } },
            normalizer = new { type = "NFC" },
            pre_tokenizer = new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = Cl100kPattern }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
                },
            },
            post_processor = new
            {
                type = "Sequence",
                processors = new object[]
                {
                    new { type = "ByteLevel" },
                    new { type = "TemplateProcessing", single = new object[] { new { SpecialToken = new { id = "<|begin_of_text|>", type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } } },
                },
            },
        });
        var tokenizer = TokenizerLoader.Load(_dir, Config(ModelFamily.Llama, bos + 1));
        var tiktoken = TiktokenTokenizer.CreateForModel("gpt-4");

        tokenizer.BosId.Should().Be(bos);
        foreach (string text in Texts)
        {
            tokenizer.Encode(text, addBos: false).Should().Equal(tiktoken.EncodeToIds(text), $"'{text}' encodes as tiktoken's cl100k does");
            tokenizer.Encode(text).Should().Equal([bos, .. tiktoken.EncodeToIds(text)]);
        }
        tokenizer.Encode("Cafe\u0301", addBos: false).Should().Equal(tiktoken.EncodeToIds("Café"), "NFC composes e + combining acute first");
    }

    [Fact]
    public void Vocab_and_merges_files_split_as_gpt2_does_or_as_qwen2_does_for_qwen2_models()
    {
        var gpt2 = TiktokenAsHf.Gpt2.Value;
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), JsonSerializer.Serialize(gpt2.Vocabulary));
        File.WriteAllLines(Path.Combine(_dir, "merges.txt"), ["#version: 0.2", .. gpt2.Merges.Select(m => $"{m.Left} {m.Right}")]);
        var tiktoken = TiktokenTokenizer.CreateForModel("gpt2");

        var asGpt2 = TokenizerLoader.Load(_dir, Config(ModelFamily.Gpt2, 50257));
        foreach (string text in Texts)
            asGpt2.Encode(text).Should().Equal(tiktoken.EncodeToIds(text), $"'{text}' encodes as tiktoken does");

        // Qwen2 splits digits one by one and joins a non-letter to the word after it.
        var asQwen2 = TokenizerLoader.Load(_dir, Config(ModelFamily.Qwen2, 50257));
        (asGpt2.Description, asQwen2.Description).Should().Be(("byte-level BPE (vocab.json + merges.txt, split as GPT-2)", "byte-level BPE (vocab.json + merges.txt, split as Qwen2)"));
        asQwen2.Encode(" 1732").Select(id => asQwen2.TokenText(id)).Should().Equal(" ", "1", "7", "3", "2");
        asGpt2.Encode(" 1732").Should().HaveCount(2);
    }

    [Theory]
    [InlineData("""{"model": {"type": "Unigram", "vocab": []}}""", "*model is Unigram*tokenizer.model*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": true}, "pre_tokenizer": {"type": "Metaspace"}}""", "*SentencePiece-style*tokenizer.model*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}""", "*pre-tokenizer Whitespace is not supported*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true}}""", "*pre-tokenizer ByteLevel*without add_prefix_space*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "ByteLevel"}}""", "*normalizer Lowercase*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 99}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}}""", "*token id 99 is beyond the model's 10 embeddings*")]
    [InlineData("not json", "*tokenizer.json: is not valid JSON*")]
    [InlineData("""{"model": "BPE"}""", "*BPE model is malformed*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": "x"}}""", "*BPE model is malformed*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{L}++"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}}""", "*split regex is not one .NET reads*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": [], "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""", "*BPE model is malformed*model.vocab*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "ByteLevel"}}""", "*BPE model is malformed*model.merges*")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""", "*vocabulary is empty*")]
    public void A_tokenizer_json_it_cannot_read_says_why_and_what_to_use(string json, string message)
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json);
        var act = () => TokenizerLoader.Load(_dir, Config(ModelFamily.Llama, 10));
        act.Should().Throw<ModelLoadException>().WithMessage(message);
    }

    private void Write(object tokenizerJson) => File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), JsonSerializer.Serialize(tokenizerJson));

    private static ModelConfig Config(ModelFamily family, int vocabSize) =>
        new() { Family = family, VocabSize = vocabSize, Hidden = 4, Layers = 1, Heads = 1, KvHeads = 1, HeadDim = 4, Intermediate = 8 };
}
