using System.Diagnostics;
using System.Text.Json;
using CircuitDsl.Runtime.Sharding;

namespace CircuitDsl.Cli.Tests.Commands;

/// <summary>Sharded runs in separate processes merge into exactly the single-run result.</summary>
public class ShardingTests
{
    private static string Repo(params string[] parts) => CliTests.Repo(parts);

    [Theory]
    [InlineData("Pairs")]
    [InlineData("Components")]
    public void Three_worker_processes_merge_to_the_single_run(string axis)
    {
        string dir = Directory.CreateTempSubdirectory("cdsl-shards-").FullName;
        try
        {
            string[] common = ["attribute", "--model", Repo("models", "ioi"), "--pairs", Repo("examples", "CircuitTests", "data", "ioi-toy.jsonl"),
                "--no-sff", "--methods", "patching,atp,hvp,mshvp", "--shard-axis", axis];
            CliTests.Run([.. common, "--json", Path.Combine(dir, "single.json")]).Code.Should().Be(0);
            CliTests.Run([.. common, "--devices", "cpu,cpu,cpu", "--json", Path.Combine(dir, "merged.json")]).Code.Should().Be(0);

            using var single = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "single.json")));
            using var merged = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "merged.json")));
            var a = single.RootElement.GetProperty("components").EnumerateArray().ToList();
            var b = merged.RootElement.GetProperty("components").EnumerateArray().ToList();
            b.Select(c => c.GetProperty("id").GetString()).Should().Equal(a.Select(c => c.GetProperty("id").GetString()));
            for (int i = 0; i < a.Count; i++)
                foreach (var key in new[] { "patching", "atp", "hvp", "mshvp", "bound" })
                {
                    // float32 rounding depends on which rows share a chunk, and either shard axis changes that (rows of
                    // several pairs share chunks). The estimates are differences of logit differences of a few units,
                    // so a few float32 ulps of those are ~1e-6.
                    double expected = a[i].GetProperty(key).GetDouble();
                    b[i].GetProperty(key).GetDouble().Should().BeApproximately(expected, 1e-5 * (1 + Math.Abs(expected)), $"{a[i].GetProperty("id")} {key}");
                }
            merged.RootElement.GetProperty("pairs").GetInt32().Should().Be(single.RootElement.GetProperty("pairs").GetInt32());
            merged.RootElement.GetProperty("evaluation").GetProperty("methods").GetProperty("atp").GetProperty("mean_abs_error").GetDouble()
                .Should().BeApproximately(single.RootElement.GetProperty("evaluation").GetProperty("methods").GetProperty("atp").GetProperty("mean_abs_error").GetDouble(), 1e-5);
            merged.RootElement.GetProperty("cost").GetProperty("patching").GetProperty("rows").GetInt32()
                .Should().Be(single.RootElement.GetProperty("cost").GetProperty("patching").GetProperty("rows").GetInt32(), "costs add up across shards");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_merged_kl_run_keeps_its_shards_clean_distributions_saturation_check()
    {
        string dir = Directory.CreateTempSubdirectory("cdsl-shards-").FullName;
        try
        {
            // The IOI toy is sure of its answers: under kl every pair is saturated, in each shard and in the merge.
            string[] common = ["attribute", "--model", Repo("models", "ioi"), "--pairs", Repo("examples", "CircuitTests", "data", "ioi-toy.jsonl"),
                "--metric", "kl", "--no-sff", "--methods", "patching,atp", "--shard-axis", "Pairs"];
            CliTests.Run([.. common, "--devices", "cpu,cpu", "--json", Path.Combine(dir, "merged.json")]).Code.Should().Be(0);
            using var merged = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "merged.json")));
            int pairs = merged.RootElement.GetProperty("pairs").GetInt32();
            merged.RootElement.GetProperty("metric").GetProperty("kind").GetString().Should().Be("kl");
            merged.RootElement.GetProperty("warnings").EnumerateArray().Should().ContainSingle()
                .Which.GetString().Should().Contain($"{pairs} of {pairs} pairs have a saturated kl");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Merge_refuses_partials_of_different_runs_and_missing_shards()
    {
        string dir = Directory.CreateTempSubdirectory("cdsl-shards-").FullName;
        try
        {
            string[] common = ["attribute", "--model", Repo("models", "ioi"), "--pairs", Repo("examples", "CircuitTests", "data", "ioi-toy.jsonl"), "--no-sff", "--methods", "atp"];
            CliTests.Run([.. common, "--shard", "0/2", "--partial", Path.Combine(dir, "a0.json")]).Code.Should().Be(0);
            CliTests.Run([.. common, "--k", "3", "--shard", "1/2", "--partial", Path.Combine(dir, "b1.json")]).Code.Should().Be(0);
            var mixed = () => CliTests.Run("merge", Path.Combine(dir, "a0.json"), Path.Combine(dir, "b1.json"));
            mixed.Should().Throw<ArgumentException>().WithMessage("*different configuration*one run*");
            var missing = () => CliTests.Run("merge", Path.Combine(dir, "a0.json"));
            missing.Should().Throw<ArgumentException>().WithMessage("*Missing shards: 1/2*");
            var sff = () => CliTests.Run([.. common[..^3], "--shard", "0/2", "--partial", Path.Combine(dir, "x.json")]);
            sff.Should().Throw<ArgumentException>().WithMessage("*Screen–Flag–Fix*--no-sff*");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Slurm_script_parses_and_the_kubernetes_manifest_has_the_indexed_job_fields()
    {
        var bash = Process.Start(new ProcessStartInfo("bash", ["-n", Repo("deploy", "slurm", "attribute-array.sh")]) { RedirectStandardError = true })!;
        bash.WaitForExit();
        bash.ExitCode.Should().Be(0, bash.StandardError.ReadToEnd());
        string? shellcheck = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "shellcheck")).FirstOrDefault(File.Exists);
        if (shellcheck is not null)
        {
            var lint = Process.Start(new ProcessStartInfo(shellcheck, [Repo("deploy", "slurm", "attribute-array.sh")]) { RedirectStandardOutput = true })!;
            string findings = lint.StandardOutput.ReadToEnd();
            lint.WaitForExit();
            lint.ExitCode.Should().Be(0, findings);
        }

        // No YAML parser in the BCL: a structural check of the fields an Indexed Job needs, at their indentation.
        var lines = File.ReadAllLines(Repo("deploy", "k8s", "attribute-job.yaml")).Where(l => !l.TrimStart().StartsWith('#')).ToList();
        lines.Should().Contain("apiVersion: batch/v1").And.Contain("kind: Job").And.Contain("spec:");
        lines.Should().Contain("  completionMode: Indexed").And.Contain(l => l.StartsWith("  completions: ")).And.Contain(l => l.StartsWith("  parallelism: "));
        lines.Should().Contain("      restartPolicy: Never").And.Contain("      containers:").And.Contain(l => l.StartsWith("          image: "));
        string.Join("\n", lines).Should().Contain("--shard \"$JOB_COMPLETION_INDEX/$SHARDS\"").And.Contain("nvidia.com/gpu: 1").And.Contain("persistentVolumeClaim");
    }
}
