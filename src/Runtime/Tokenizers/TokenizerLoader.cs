using CircuitDsl.Runtime.Loading;
using Microsoft.ML.Tokenizers;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>Finds the tokenizer that belongs to a model file or folder.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Looks, in order, for llama2.c's <c>tok*.bin</c>/<c>tokenizer.bin</c>, our toy models' <c>words.txt</c>, GPT-2 BPE <c>vocab.json</c> +
    /// <c>merges.txt</c>, SentencePiece <c>tokenizer.model</c>; a GPT-2 model with none of these gets the GPT-2
    /// (r50k) vocabulary bundled with Microsoft.ML.Tokenizers.
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

        string vocab = Path.Combine(folder, "vocab.json"), merges = Path.Combine(folder, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges))
        {
            using var v = File.OpenRead(vocab);
            using var m = File.OpenRead(merges);
            return new MlTokenizer(CodeGenTokenizer.Create(v, m, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false), config.VocabSize, null);
        }
        string sentencePiece = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(sentencePiece))
        {
            using var s = File.OpenRead(sentencePiece);
            return new MlTokenizer(LlamaTokenizer.Create(s), config.VocabSize, config.BosTokenId);
        }
        if (config.Family == ModelFamily.Gpt2 && config.VocabSize == 50257)
            return Gpt2();
        throw new ModelLoadException(folder, "no tokenizer found: add tokenizer.bin (llama2.c), vocab.json + merges.txt (GPT-2 BPE) or tokenizer.model (SentencePiece), or pass token ids.");
    }

    /// <summary>The GPT-2 BPE vocabulary (r50k), bundled, no download.</summary>
    public static ITextTokenizer Gpt2() => new MlTokenizer(TiktokenTokenizer.CreateForModel("gpt2"), 50257, null);
}
