using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Runtime.Benchmarks;

/// <summary>
/// The bench's GPT-2-shaped synthetic model (seeded random weights) and its one prompt pair: 16 random tokens, two of
/// them changed in the corrupted prompt. bench/pytorch_reference.py builds the same shape.
/// </summary>
public static class SyntheticGpt2
{
    /// <summary>The name of the GPT-2-small-shaped bench shape.</summary>
    public const string SmallShapeName = "GPT-2-small-shaped (synthetic), T=16";

    /// <summary>GPT-2 small's shape (12 layers × 12 heads, d 768, vocab 50257), or a 2-layer miniature for quick runs.</summary>
    public static BenchShape Shape(bool miniature = false)
    {
        var config = miniature
            ? new ModelConfig { Family = ModelFamily.Gpt2, VocabSize = 512, Hidden = 128, Layers = 2, Heads = 4, KvHeads = 4, HeadDim = 32, Intermediate = 512, MaxPositions = 64,
                Norm = NormKind.LayerNorm, Act = Activation.GeluTanh, GatedMlp = false, LearnedPositions = true, QkvBias = true, OutBias = true, MlpBias = true, TiedEmbeddings = true }
            : new ModelConfig { Family = ModelFamily.Gpt2, VocabSize = 50257, Hidden = 768, Layers = 12, Heads = 12, KvHeads = 12, HeadDim = 64, Intermediate = 3072, MaxPositions = 1024,
                Norm = NormKind.LayerNorm, Act = Activation.GeluTanh, GatedMlp = false, LearnedPositions = true, QkvBias = true, OutBias = true, MlpBias = true, TiedEmbeddings = true };
        var random = new Random(5);
        int[] clean = [.. Enumerable.Range(0, 16).Select(_ => random.Next(config.VocabSize))];
        var corrupted = clean.ToArray();
        corrupted[3] = (corrupted[3] + 1) % config.VocabSize;
        corrupted[9] = (corrupted[9] + 1) % config.VocabSize;
        return new BenchShape(miniature ? "GPT-2-shaped (2 layers, synthetic)" : SmallShapeName,
            ToyTrainer.Initialise(config, seed: 1), new PromptPair(clean, corrupted, 11, 22), PerPosition: !miniature);
    }
}
