using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Tokenizers;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Loading;

/// <summary>stories260K (llama2.c, MIT) is a real trained model: its golden outputs come from an independent
/// NumPy implementation of run.c.</summary>
public class Stories260KTests
{
    public static TheoryData<string> Checkpoints => new() { "stories260K.bin", "hf-llama" };

    [SkippableTheory]
    [MemberData(nameof(Checkpoints))]
    public void Both_checkpoints_reproduce_the_golden_greedy_generation_and_logits(string checkpoint)
    {
        var model = ModelLoader.Load(SharedData.Require("models", "stories260K", checkpoint));
        var reference = Json.Load(SharedData.Require("models", "stories260K", "reference_outputs.json"));
        var golden = reference.GetProperty("prompt_once_upon_a_time");

        var prompt = Json.Ints(golden.GetProperty("prompt_ids"));
        var ids = Generation.Generate(model, prompt, golden.GetProperty("steps").GetInt32(), stopId: 1);
        ids.Should().Equal(Json.Ints(golden.GetProperty("ids")));
        var tokenizer = Llama2cTokenizer.Load(SharedData.Require("models", "stories260K", "tok512.bin"), 512);
        tokenizer.Decode(ids).Should().Be(golden.GetProperty("text").GetString());

        using var _ = no_grad();
        var logits = model.Forward(ModelInput.Single(prompt));
        MaxAbsDiff(logits[0, 0], Json.Floats(reference.GetProperty("logits_pos0_after_bos").GetProperty("logits"))).Should().BeLessThan(1e-4);
        MaxAbsDiff(logits[0, -1], Json.Floats(reference.GetProperty("logits_last_prompt_position").GetProperty("logits"))).Should().BeLessThan(1e-4);
    }

    [SkippableFact]
    public void Its_folder_is_not_a_model_but_the_error_names_the_checkpoint_and_the_HF_copy_in_it_and_not_the_tokenizer()
    {
        string folder = SharedData.Require("models", "stories260K");
        ((Action)(() => ModelLoader.Load(folder))).Should().Throw<ModelLoadException>()
            .WithMessage($"*pass the file: {Path.Combine(folder, "stories260K.bin")}.*Model folders inside: {Path.Combine(folder, "hf-llama")}.")
            .Which.Message.Should().NotContain("tok512.bin");
    }

    [SkippableFact]
    public void Empty_prompt_generation_matches_the_published_256_step_sample()
    {
        var model = ModelLoader.Load(SharedData.Require("models", "stories260K", "stories260K.bin"));
        var golden = Json.Load(SharedData.Require("models", "stories260K", "reference_outputs.json")).GetProperty("empty_prompt_256");
        Generation.Generate(model, [1], 256, stopId: 1).Should().Equal(Json.Ints(golden.GetProperty("ids")));
    }

    [SkippableFact]
    public void Tok512_encodes_every_reference_case_and_decodes_back()
    {
        var tokenizer = Llama2cTokenizer.Load(SharedData.Require("models", "stories260K", "tok512.bin"), 512);
        var cases = Json.Load(SharedData.Require("models", "stories260K", "tokenizer_cases.json")).GetProperty("cases");
        foreach (var c in cases.EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            var ids = Json.Ints(c.GetProperty("ids"));
            tokenizer.Encode(text).Should().Equal(ids, $"encoding {text}");
            tokenizer.Decode(ids).Should().Be(c.GetProperty("decoded").GetString(), $"decoding {text}");
        }
    }

    private static double MaxAbsDiff(Tensor actual, float[] expected) =>
        actual.data<float>().ToArray().Zip(expected, (a, b) => Math.Abs(a - b)).Max();
}
