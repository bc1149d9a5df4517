using System.CommandLine;
using System.Text.Json;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Tests.Support;

namespace CircuitDsl.Cli.Tests.Commands;

public class CliTests
{
    internal static (int Code, string Output) Run(params string[] args) => RunArgs(args);

    internal static (int Code, string Output) RunArgs(string[] args)
    {
        var output = new StringWriter();
        // Parse errors go to the error writer: one transcript keeps them in order with the output.
        int code = CircuitCli.Build().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = output, EnableDefaultExceptionHandler = false });
        return (code, output.ToString());
    }

    /// <summary>A path inside the repository (the folder holding CircuitDsl.sln).</summary>
    internal static string Repo(params string[] parts) => RepositoryRoot.Combine(parts);

    /// <summary>A path in ../shared beside the repository, or null when it is absent.</summary>
    internal static string? Shared(params string[] parts)
    {
        string path = Repo(["..", "shared", .. parts]);
        return File.Exists(path) || Directory.Exists(path) ? path : null;
    }

    /// <summary>stories260K's checkpoint in ../shared; the test is skipped when it is absent.</summary>
    internal static string Stories260K()
    {
        string? model = Shared("models", "stories260K", "stories260K.bin");
        Skip.If(model is null, "Needs ../shared/models/stories260K beside the repository.");
        return model!;
    }

    /// <summary>The name-swap pair the stories260K tests attribute (answer Lily), without its wrong token.</summary>
    internal static readonly string[] StoriesPair = ["--clean", "Lily and Tim went to the park. Tim gave the ball to",
        "--corrupt", "Lily and Tim went to the park. Lily gave the ball to", "--answer", "Lily"];

    /// <summary><see cref="StoriesPair"/> with its wrong token, Tim.</summary>
    internal static readonly string[] StoriesPairWithWrong = [.. StoriesPair, "--wrong", "Tim"];

    [Fact]
    public void Version_prints_the_assembly_version()
    {
        var (code, output) = Run("--version");
        code.Should().Be(0);
        output.Trim().Should().StartWith("0.1.0");
    }

    [Fact]
    public void Attribute_writes_an_html_report_with_its_figures_and_json()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-report-{Guid.NewGuid():N}");
        try
        {
            var (code, output) = Run("attribute", "--model", CircuitDsl.Cli.Reports.EmbeddedModels.Locate("ioi"),
                "--clean", "When Mary and John went to the store , John gave a drink to", "--corrupt", "When Mary and John went to the store , Mary gave a drink to",
                "--answer", "Mary", "--wrong", "John", "--methods", "patching", "--report", folder);
            code.Should().Be(0, output);
            output.Should().Contain("report: ");
            Directory.GetFiles(folder).Select(Path.GetFileName).Should().BeEquivalentTo(["index.html", "heatmaps.png", "scatter.png", "result.json"]);
            File.ReadAllText(Path.Combine(folder, "index.html")).Should().Contain("L0MLP");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("--top must be 0 or more; got -1.", "attribute", "--model", "m", "--top", "-1")]
    [InlineData("--top must be 0 or more; got -2.", "edges", "--model", "m", "--top", "-2")]
    [InlineData("--top must be 0 or more; got -1.", "merge", "partial.json", "--top", "-1")]
    [InlineData("--pairs must be at least 1; got 0.", "demo", "--pairs", "0")]
    public void Negative_counts_are_refused_at_parsing_before_any_work(string message, params string[] args)
    {
        var (code, output) = RunArgs(args);
        code.Should().NotBe(0);
        output.Should().Contain(message);
    }

    [SkippableFact]
    public void Generate_prints_the_golden_stories260K_text()
    {
        string model = Stories260K();
        var golden = JsonDocument.Parse(File.ReadAllText(Shared("models", "stories260K", "reference_outputs.json")!))
            .RootElement.GetProperty("prompt_once_upon_a_time").GetProperty("text").GetString();
        var (code, output) = Run("generate", "--model", model, "--prompt", "Once upon a time", "--steps", "64");
        code.Should().Be(0);
        output.TrimEnd('\n').Should().Be(golden);
    }

    [Fact]
    public void A_missing_model_is_a_typed_error()
    {
        var act = () => Run("info", "--model", "/no/such/model");
        act.Should().Throw<ModelLoadException>().WithMessage("*/no/such/model*not found*");
    }

    [Theory]
    [InlineData("gpu", "*Unknown device 'gpu'*cpu, cuda or cuda:N*")]
    [InlineData("cuda:x", "*Unknown device 'cuda:x'*")]
    public void An_unknown_device_is_a_typed_error(string device, string message)
    {
        var act = () => Run("generate", "--model", "/no/such/model", "--prompt", "a", "--device", device);
        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [SkippableFact]
    public void Cuda_on_a_cpu_build_says_how_to_build_for_cuda()
    {
        Skip.If(TorchSharp.torch.cuda.is_available(), "This machine has CUDA.");
        var act = () => Run("generate", "--model", "/no/such/model", "--prompt", "a", "--device", "cuda:0");
        act.Should().Throw<ArgumentException>().WithMessage("*'cuda:0'*CUDA is not available*-p:TorchBackend=cuda*");
    }
}

public class AttributeCommandTests
{
    [SkippableFact]
    public void Attribute_writes_json_with_every_component_and_the_evaluation()
    {
        string model = CliTests.Stories260K();
        string json = Path.Combine(Path.GetTempPath(), $"cdsl-attribute-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--methods", "patching", "--json", json]);
            code.Should().Be(0);
            output.Should().Contain("L4H2").And.Contain("against exact activation patching").And.Contain("estimated");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            root.GetProperty("metric").GetProperty("kind").GetString().Should().Be("logit_diff");
            var components = root.GetProperty("components").EnumerateArray().ToList();
            components.Should().HaveCount(45);
            components[0].GetProperty("id").GetString().Should().Be("L0H0");
            components.Should().OnlyContain(c => Has(c, "patching") && Has(c, "atp") && Has(c, "rtilde"));
            components.Select(c => c.GetProperty("id").GetString()).Should().Contain("L4MLP");
            root.GetProperty("evaluation").GetProperty("methods").TryGetProperty("atp", out _).Should().BeTrue();
            // AtP's corrupted run is a forward; its clean run and the Hutchinson probes are rows of one forward and one backward.
            var cost = root.GetProperty("cost");
            (int, int, int) Passes(string stage) => (cost.GetProperty(stage).GetProperty("forwards").GetInt32(), cost.GetProperty(stage).GetProperty("backwards").GetInt32(),
                cost.GetProperty(stage).GetProperty("rows").GetInt32());
            Passes("atp").Should().Be((1, 0, 1));
            Passes("atp + screen.hutchinson").Should().Be((1, 1, 1 + new AttributionOptions().HutchinsonProbes));
        }
        finally { File.Delete(json); }
    }

    [SkippableFact]
    public void Attribute_fixes_flagged_estimates_by_the_second_order_correction_when_asked()
    {
        string model = CliTests.Stories260K();
        string json = Path.Combine(Path.GetTempPath(), $"cdsl-attribute-{Guid.NewGuid():N}.json");
        try
        {
            CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--fix", "SecondOrder", "--json", json]).Code.Should().Be(0);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            root.GetProperty("options").GetProperty("fix").GetString().Should().Be("SecondOrder", "as --fix and --screen spell it");
            root.GetProperty("cost").TryGetProperty("patching", out _).Should().BeFalse("no fix pass runs");
            var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--fix", "Guess"]);
            (code, output.Contains("Guess")).Should().Be((1, true), "an unknown fix is refused at parsing, naming it");
        }
        finally { File.Delete(json); }
    }

    private static bool Has(JsonElement e, string name) => e.TryGetProperty(name, out var _);

    [SkippableFact]
    public void Attribute_rebuilds_states_beyond_the_state_memory_and_books_what_it_costs()
    {
        string model = CliTests.Stories260K();
        var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--state-memory", "0"]);
        code.Should().Be(0);
        output.Should().Contain("L4H2").And.Contain("rebuild", "the compute table books the rebuilt states' passes");
        var act = () => CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--state-memory", "-1GB"]);
        act.Should().Throw<ArgumentException>().WithMessage("--state-memory*");
    }

    [SkippableFact]
    public void Attribute_runs_without_clean_run_records_and_refuses_a_record_memory_that_is_not_a_size()
    {
        string model = CliTests.Stories260K();
        var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--record-memory", "0"]);
        code.Should().Be(0);
        output.Should().Contain("L4H2");
        var act = () => CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--record-memory", "lots"]);
        act.Should().Throw<ArgumentException>().WithMessage("--record-memory 'lots' is not a size like 2GB or 512MB (or 0).");
    }

    [SkippableFact]
    public void A_screen_fraction_outside_0_to_1_is_a_clear_error()
    {
        string model = CliTests.Stories260K();
        var act = () => CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--screen-fraction", "2"]);
        act.Should().Throw<ArgumentException>().WithMessage("*fraction of τ*[0, 1]*2*");
    }

    [SkippableFact]
    public void Attribute_explains_the_answer_log_probability_without_a_wrong_token()
    {
        string model = CliTests.Stories260K();
        string json = Path.Combine(Path.GetTempPath(), $"cdsl-logprob-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPair, "--metric", "logprob", "--json", json]);
            code.Should().Be(0);
            output.Should().Contain("logprob", "the table's title names the metric");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var metric = doc.RootElement.GetProperty("metric");
            metric.GetProperty("kind").GetString().Should().Be("logprob");
            metric.GetProperty("clean").GetDouble().Should().BeNegative("a log-probability");
        }
        finally { File.Delete(json); }
    }

    [SkippableFact]
    public void Several_answer_tokens_make_a_set_whose_probabilities_sum()
    {
        string model = CliTests.Stories260K();
        string dir = Directory.CreateTempSubdirectory("cdsl-sets-").FullName;
        try
        {
            double Clean(params string[] answers)
            {
                string json = Path.Combine(dir, $"{answers.Length}.json");
                CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPair[..4], "--answer", .. answers, "--metric", "logprob", "--json", json]).Code.Should().Be(0);
                using var doc = JsonDocument.Parse(File.ReadAllText(json));
                return doc.RootElement.GetProperty("metric").GetProperty("clean").GetDouble();
            }
            double lily = Clean("Lily"), either = Clean("Lily", "Tim");
            either.Should().BeGreaterThan(lily, "log(p(Lily) + p(Tim)) > log p(Lily)");
            either.Should().BeLessThan(0);
        }
        finally { Directory.Delete(dir, true); }
    }

    [SkippableFact]
    public void Attribute_explains_the_kl_divergence_from_the_clean_distribution_without_any_token()
    {
        string model = CliTests.Stories260K();
        string json = Path.Combine(Path.GetTempPath(), $"cdsl-kl-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPair[..4], "--metric", "kl", "--json", json]);
            code.Should().Be(0);
            output.Should().Contain("kl", "the table's title names the metric");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var metric = doc.RootElement.GetProperty("metric");
            metric.GetProperty("kind").GetString().Should().Be("kl");
            metric.GetProperty("clean").GetDouble().Should().BeApproximately(0, 1e-6, "the clean run is the reference");
            metric.GetProperty("corrupted").GetDouble().Should().BePositive();
        }
        finally { File.Delete(json); }
    }

    [SkippableFact]
    public void An_unknown_metric_or_a_missing_wrong_token_for_a_difference_is_a_clear_error()
    {
        string model = CliTests.Stories260K();
        var unknown = () => CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPairWithWrong, "--metric", "jsd"]);
        unknown.Should().Throw<ArgumentException>().WithMessage("*Unknown metric 'jsd'*logit_diff*prob_diff*logprob*kl*");
        var noWrong = () => CliTests.Run(["attribute", "--model", model, .. CliTests.StoriesPair, "--metric", "prob-diff"]);
        noWrong.Should().Throw<ArgumentException>().WithMessage("*--answer and --wrong*");
    }

    [SkippableFact]
    public void Multi_token_answer_is_a_clear_error()
    {
        string model = CliTests.Stories260K();
        var act = () => CliTests.Run("attribute", "--model", model, "--clean", "a b", "--corrupt", "a c", "--answer", "Marylebone", "--wrong", "Tim");
        act.Should().Throw<ArgumentException>().WithMessage("*Marylebone*single token*");
    }
}

public class EdgesCommandTests
{
    [SkippableFact]
    public void Edges_screens_every_edge_and_measures_the_largest_exactly()
    {
        string model = CliTests.Stories260K();
        string json = Path.Combine(Path.GetTempPath(), $"cdsl-edges-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output) = CliTests.Run(["edges", "--model", model, .. CliTests.StoriesPairWithWrong, "--top", "3", "--json", json]);
            code.Should().Be(0);
            output.Should().Contain("edges by |estimate|").And.Contain("3 measured exactly").And.MatchRegex(@"within 20 % of path patching for \d of 3, of its sign for \d; furthest: \S+ → \S+ \(");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var edges = doc.RootElement.GetProperty("edges").EnumerateArray().ToList();
            // stories260K: 5 layers of 8 heads (4 key/value heads) and MLPs; heads and MLPs of layer l send to the inputs
            // of later layers' heads (8 queries, 4 keys, 4 values) and MLPs, and its heads to its own MLP; the embedding
            // sends to every head input and MLP, and all 46 senders to the logits.
            edges.Should().HaveCount(Enumerable.Range(0, 5).Sum(l => 9 * l * (8 + 2 * 4) + 9 * l + 8) + 5 * (8 + 2 * 4 + 1) + 46);
            edges.Take(3).Should().OnlyContain(e => e.GetProperty("patching").ValueKind == JsonValueKind.Number);
            edges.Skip(3).Should().OnlyContain(e => e.GetProperty("patching").ValueKind == JsonValueKind.Null);
            edges.Select(e => Math.Abs(e.GetProperty("estimate").GetDouble())).Should().BeInDescendingOrder();
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public void Edges_writes_an_html_report_with_the_graph_and_json()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-edges-report-{Guid.NewGuid():N}");
        try
        {
            var (code, output) = CliTests.Run("edges", "--model", CircuitDsl.Cli.Reports.EmbeddedModels.Locate("ioi"),
                "--clean", "When Mary and John went to the store , John gave a drink to", "--corrupt", "When Mary and John went to the store , Mary gave a drink to",
                "--answer", "Mary", "--wrong", "John", "--top", "4", "--report", folder);
            code.Should().Be(0, output);
            Directory.GetFiles(folder).Select(Path.GetFileName).Should().BeEquivalentTo(["index.html", "graph.png", "edges.json"]);
            File.ReadAllText(Path.Combine(folder, "index.html")).Should().Contain("graph.png").And.Contain("logits");
            JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "edges.json"))).RootElement.GetProperty("edges").GetArrayLength().Should().BeGreaterThan(4);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Edges_with_every_receiver_before_every_sender_is_a_clear_error()
    {
        var act = () => CliTests.Run("edges", "--model", CircuitDsl.Cli.Reports.EmbeddedModels.Locate("ioi"),
            "--clean", "When Mary and John went to the store", "--corrupt", "When Mary and Anna went to the store",
            "--answer", "#1", "--wrong", "#2", "--senders", "L1H0", "--receivers", "L0H0");
        act.Should().Throw<ArgumentException>().WithMessage("No edge to estimate*sender must come earlier*");
    }

    [Fact]
    public void Edges_without_a_pair_is_a_clear_error()
    {
        var act = () => CliTests.Run("edges", "--model", CircuitDsl.Cli.Reports.EmbeddedModels.Locate("ioi"));
        act.Should().Throw<ArgumentException>().WithMessage("*--clean, --corrupt, --answer and --wrong, or --pairs*");
    }
}
