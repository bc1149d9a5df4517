using System.CommandLine;
using System.Text.Json;
using CircuitDsl.Runtime.Loading;

namespace CircuitDsl.Cli.Tests.Commands;

public class CliTests
{
    internal static (int Code, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int code = CircuitCli.Build().Parse(args).Invoke(new InvocationConfiguration { Output = output, EnableDefaultExceptionHandler = false });
        return (code, output.ToString());
    }

    internal static string? Shared(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CircuitDsl.sln")))
            {
                string path = Path.Combine([dir.FullName, "..", "shared", .. parts]);
                return File.Exists(path) || Directory.Exists(path) ? path : null;
            }
        return null;
    }

    [Fact]
    public void Version_prints_the_assembly_version()
    {
        var (code, output) = Run("--version");
        code.Should().Be(0);
        output.Trim().Should().StartWith("0.1.0");
    }

    [SkippableFact]
    public void Generate_prints_the_golden_stories260K_text()
    {
        string? model = Shared("models", "stories260K", "stories260K.bin");
        Skip.If(model is null, "Needs ../shared/models/stories260K beside the repository.");
        var golden = JsonDocument.Parse(File.ReadAllText(Shared("models", "stories260K", "reference_outputs.json")!))
            .RootElement.GetProperty("prompt_once_upon_a_time").GetProperty("text").GetString();
        var (code, output) = Run("generate", "--model", model!, "--prompt", "Once upon a time", "--steps", "64");
        code.Should().Be(0);
        output.TrimEnd('\n').Should().Be(golden);
    }

    [Fact]
    public void A_missing_model_is_a_typed_error()
    {
        var act = () => Run("info", "--model", "/no/such/model");
        act.Should().Throw<ModelLoadException>().WithMessage("*/no/such/model*not found*");
    }
}
