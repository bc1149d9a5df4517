using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>The five synthetic-weight architecture fixtures of ../shared.</summary>
public static class Fixtures
{
    public static TheoryData<string> Families => new() { "gpt2", "gpt-neox", "llama", "qwen2", "gemma2" };

    public static HookedTransformer Load(string family, ScalarType dtype = ScalarType.Float32) =>
        ModelLoader.Load(SharedData.Require("fixtures", "architectures", family), dtype: dtype);

    /// <summary>Deterministic token ids that fit the model's vocabulary.</summary>
    public static int[] Tokens(HookedTransformer model, int length, int seed) =>
        Enumerable.Range(0, length).Select(i => (i * 37 + seed * 11 + 5) % model.Config.VocabSize).ToArray();
}
