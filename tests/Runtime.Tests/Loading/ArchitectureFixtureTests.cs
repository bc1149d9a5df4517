using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Loading;

/// <summary>
/// The five architecture fixtures in ../shared hold synthetic random weights with outputs from an independent
/// PyTorch implementation of the Hugging Face code. Matching them within 1e-4 proves the families are right.
/// </summary>
public class ArchitectureFixtureTests
{
    public static TheoryData<string> Families => new() { "gpt2", "gpt-neox", "llama", "qwen2", "gemma2" };

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Synthetic_weights_reproduce_reference_logits_residuals_and_attention(string family)
    {
        string dir = SharedData.Require("fixtures", "architectures", family);
        var expected = Json.Load(Path.Combine(dir, "expected.json"));
        using var scope = NewDisposeScope();
        var model = ModelLoader.Load(dir);
        var ids = expected.GetProperty("input_ids").EnumerateArray().Select(r => (IReadOnlyList<int>)Json.Ints(r)).ToList();
        var input = ModelInput.Batched(ids);

        var layers = Enumerable.Range(0, model.Config.Layers);
        var hooks = new HookPlan(model.Config)
            .Cache(new Site(SiteKind.Embed))
            .Cache(layers.Select(l => new Site(SiteKind.ResidPost, l)))
            .Cache(layers.Select(l => new Site(SiteKind.AttnPattern, l)))
            .Cache(new Site(SiteKind.FinalNorm));
        using var _ = no_grad();
        var logits = model.Forward(input, hooks);

        MaxAbsDiff(logits, Json.Floats(expected.GetProperty("logits"))).Should().BeLessThan(1e-4, "logits");
        var hidden = expected.GetProperty("hidden_states").EnumerateArray().ToList();
        MaxAbsDiff(hooks[new Site(SiteKind.Embed)][0], Json.Floats(hidden[0])).Should().BeLessThan(1e-4, "embedding");
        for (int l = 0; l < model.Config.Layers; l++)
            MaxAbsDiff(hooks[new Site(SiteKind.ResidPost, l)][0], Json.Floats(hidden[l + 1])).Should().BeLessThan(1e-4, $"residual after layer {l}");
        MaxAbsDiff(hooks[new Site(SiteKind.FinalNorm)][0], Json.Floats(expected.GetProperty("final_norm_output"))).Should().BeLessThan(1e-4, "final norm");
        var attention = expected.GetProperty("attentions_head0").EnumerateArray().ToList();
        for (int l = 0; l < model.Config.Layers; l++)
            MaxAbsDiff(hooks[new Site(SiteKind.AttnPattern, l)][0, 0], Json.Floats(attention[l])).Should().BeLessThan(1e-5, $"head-0 pattern of layer {l}");
    }

    private static double MaxAbsDiff(Tensor actual, float[] expected)
    {
        var flat = actual.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        flat.Length.Should().Be(expected.Length);
        return flat.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
    }
}
