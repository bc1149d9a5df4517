using System.Text.Json.Nodes;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Loading;

/// <summary>Broken checkpoints give a typed error naming the file and tensor, never a native crash.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cdsl-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyFixture(string family = "llama")
    {
        string source = SharedData.Require("fixtures", "architectures", family);
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(source, f), Path.Combine(_dir, f));
        return _dir;
    }

    private void Rewrite(Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>> change)
    {
        string path = Path.Combine(_dir, "model.safetensors");
        var file = SafeTensorsFile.Open(path);
        var tensors = file.Entries.Keys.ToDictionary(k => k, file.Read);
        File.Delete(path);
        SafeTensorsFile.Write(path, change(tensors));
    }

    [SkippableFact]
    public void Missing_tensor_is_named()
    {
        CopyFixture();
        Rewrite(t => { t.Remove("model.layers.1.mlp.up_proj.weight"); return t; });
        var act = () => ModelLoader.Load(_dir);
        act.Should().Throw<ModelLoadException>().Which.Tensor.Should().Be("layers.1.mlp.up_proj.weight");
    }

    [SkippableFact]
    public void Extra_tensor_is_named()
    {
        CopyFixture();
        Rewrite(t => { t["model.layers.0.self_attn.extra.weight"] = zeros(2); return t; });
        var act = () => ModelLoader.Load(_dir);
        act.Should().Throw<ModelLoadException>().WithMessage("*model.layers.0.self_attn.extra.weight*unexpected tensor*");
    }

    [SkippableFact]
    public void Wrong_shape_names_tensor_and_both_shapes()
    {
        CopyFixture();
        Rewrite(t => { t["model.norm.weight"] = ones(47); return t; });
        var act = () => ModelLoader.Load(_dir);
        act.Should().Throw<ModelLoadException>().WithMessage("*final_norm.weight*[47]*[48]*");
    }

    [SkippableFact]
    public void Truncated_file_is_reported()
    {
        string dir = CopyFixture();
        string path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var act = () => ModelLoader.Load(dir);
        act.Should().Throw<ModelLoadException>().WithMessage("*model.safetensors*truncated*");
    }

    [SkippableFact]
    public void Header_length_beyond_file_size_is_reported()
    {
        string dir = CopyFixture();
        string path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes((ulong)bytes.Length * 2).CopyTo(bytes, 0);
        File.WriteAllBytes(path, bytes);
        var act = () => ModelLoader.Load(dir);
        act.Should().Throw<ModelLoadException>().WithMessage("*header length*runs past the end*");
    }

    [SkippableFact]
    public void Unknown_model_type_lists_the_supported_ones()
    {
        string dir = CopyFixture();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        config["model_type"] = "mamba";
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var act = () => ModelLoader.Load(dir);
        act.Should().Throw<ModelLoadException>().WithMessage("*config.json*unknown model_type 'mamba'*gpt2*gemma2*");
    }

    [Fact]
    public void Invalid_config_json_and_missing_folder_are_reported()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), "{ not json");
        ((Action)(() => ModelLoader.Load(_dir))).Should().Throw<ModelLoadException>().WithMessage("*config.json*invalid JSON*");
        ((Action)(() => ModelLoader.Load(Path.Combine(_dir, "nope")))).Should().Throw<ModelLoadException>().WithMessage("*not found*");
    }

    [Fact]
    public void A_folder_without_config_json_points_to_the_model_folders_inside_it()
    {
        File.WriteAllBytes(Path.Combine(_dir, "vocab.bin"), [0, 1, 2]); // no llama2.c checkpoint: not suggested
        Directory.CreateDirectory(Path.Combine(_dir, "hf"));
        File.WriteAllText(Path.Combine(_dir, "hf", "config.json"), "{}");
        ((Action)(() => ModelLoader.Load(_dir))).Should().Throw<ModelLoadException>()
            .WithMessage($"*no config.json*Model folders inside: {Path.Combine(_dir, "hf")}.")
            .Which.Message.Should().NotContain("vocab.bin");
    }

    [SkippableFact]
    public void Site_outside_the_model_is_a_typed_error()
    {
        var model = Fixtures.Load("gpt-neox");
        var plan = new HookPlan(model.Config);
        ((Action)(() => plan.Cache(new Site(SiteKind.AttnZ, 2)))).Should().Throw<SiteOutOfRangeException>().WithMessage("*blocks.2.attn.z*layers are 0..1*");
        ((Action)(() => plan.Cache(new Site(SiteKind.ResidMid, 0)))).Should().Throw<SiteOutOfRangeException>().WithMessage("*parallel residual*");
        ((Action)(() => Site.Parse("blocks.0.attn.zz"))).Should().Throw<FormatException>().WithMessage("*attn.zz*");
        Site.Parse("blocks.1.attn.z").Should().Be(new Site(SiteKind.AttnZ, 1));
        ((Action)(() => model.Forward(ModelInput.Single([1, 999])))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*0..95*");
    }
}
