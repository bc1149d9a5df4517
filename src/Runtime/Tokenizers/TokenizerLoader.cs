using CircuitDsl.Runtime.Loading;
using Microsoft.ML.Tokenizers;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>Finds the tokenizer that belongs to a model file or folder.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Looks, in order, for llama2.c's <c>tok*.bin</c>/<c>tokenizer.bin</c>, our toy models' <c>words.txt</c>, a
    /// byte-level BPE <c>tokenizer.json</c> (GPT-2, GPT-NeoX/Pythia, Qwen2, Llama-3; <see cref="HfTokenizerJson"/>),
    /// byte-level BPE <c>vocab.json</c> + <c>merges.txt</c> (split as GPT-2 does, or as Qwen2 does for Qwen2 models),
    /// SentencePiece <c>tokenizer.model</c>; a GPT-2 model with none of these gets the GPT-2 (r50k) vocabulary bundled
    /// with Microsoft.ML.Tokenizers. A <c>tokenizer.json</c> of another kind, with nothing else beside it, is refused
    /// with the reason.
    /// </summary>
    public static ITextTokenizer Load(string modelPath, ModelConfig config)
    {
        string folder = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var candidates = new[] { Path.Combine(folder, "tokenizer.bin") }
            .Concat(Directory.Exists(folder) ? Directory.GetFiles(folder, "tok*.bin").Order() : []);
        // A llama2.c model folder may hold its .bin tokenizer one level up (stories260K/hf-llama → stories260K).
        string? parent = Path.GetDirectoryName(folder);
        if (parent is not null && Directory.Exists(parent))
            candidates = candidates.Concat(Directory.GetFiles(parent, "tok*.bin").Order());
        if (candidates.FirstOrDefault(File.Exists) is { } llama2c)
            return Llama2cTokenizer.Load(llama2c, config.VocabSize);

        string words = Path.Combine(folder, "words.txt");
        if (File.Exists(words)) return WordTokenizer.Load(words);

        // tokenizer.json carries its own split and added tokens, which vocab.json + merges.txt leave to the family.
        string json = Path.Combine(folder, "tokenizer.json");
        ModelLoadException? jsonRefused = null;
        if (File.Exists(json) && HfTokenizerJson.TryLoad(json, config.VocabSize, out jsonRefused) is { } fromJson)
            return fromJson;
        string vocab = Path.Combine(folder, "vocab.json"), merges = Path.Combine(folder, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges))
        {
            bool qwen = config.Family == ModelFamily.Qwen2;
            return new MlTokenizer(ByteLevelBpe.FromFiles(vocab, merges, qwen ? ByteLevelBpe.Qwen2Pattern : ByteLevelBpe.Gpt2Pattern, nfc: qwen), config.VocabSize, null,
                $"byte-level BPE (vocab.json + merges.txt, split as {(qwen ? "Qwen2" : "GPT-2")})");
        }
        string sentencePiece = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(sentencePiece))
        {
            using var s = File.OpenRead(sentencePiece);
            return new MlTokenizer(LlamaTokenizer.Create(s), config.VocabSize, config.BosTokenId, "SentencePiece (tokenizer.model)");
        }
        if (jsonRefused is not null) throw jsonRefused;   // a tokenizer.json of another kind, and nothing else
        if (config.Family == ModelFamily.Gpt2 && config.VocabSize == 50257)
            return Gpt2();
        throw new ModelLoadException(folder, "no tokenizer found: add tokenizer.bin (llama2.c), tokenizer.json or vocab.json + merges.txt (byte-level BPE) or tokenizer.model (SentencePiece), or pass token ids.");
    }

    /// <summary>The GPT-2 BPE vocabulary (r50k), bundled, no download.</summary>
    public static ITextTokenizer Gpt2() => new MlTokenizer(TiktokenTokenizer.CreateForModel("gpt2"), 50257, null, "GPT-2 BPE (r50k, bundled)");
}
