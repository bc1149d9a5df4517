using System.Text.Json;
using CircuitDsl.Cli.Commands;

namespace CircuitDsl.Cli.Tests.Commands;

/// <summary>The quick bench runs every row and writes well-formed reports; timings are never asserted here.</summary>
public class BenchCommandTests
{
    [Fact]
    public void Quick_bench_measures_every_row_and_writes_markdown_and_json()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-bench-{Guid.NewGuid():N}");
        try
        {
            var (code, _) = CliTests.Run("bench", "--quick", "--out", folder);
            code.Should().Be(0);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "bench.json")));
            var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
            var operations = rows.Select(r => r.GetProperty("Operation").GetString()!).ToList();
            operations.Should().Contain(
            [
                "forward (1 row)", "forward + backward (1 row)", "AtP, all heads (2F + 1B)", "HVP, all heads (cached start, Taylor-mode jets)",
                "HVP, all heads (cached start, double backward)", "HVP, all heads (full forward, double backward)",
                "patching, all heads (cached start)", "patching, all heads, end to end (clean and corrupted forward, then cached starts)",
                "Screen–Flag–Fix, all heads, Hutchinson screen (default)",
                "Screen–Flag–Fix, all heads, gradient-difference screen",
                "Screen–Flag–Fix, all heads, Hutchinson screen, second-order fix",
            ]);
            operations.Should().Contain(o => o.StartsWith("MS-HVP K=5")).And.Contain(o => o.StartsWith("IG m=32"));
            rows.Should().OnlyContain(r => r.GetProperty("Seconds").GetDouble() > 0, "every row was measured");
            rows.Select(r => r.GetProperty("Shape").GetString()).Distinct().Should().HaveCountGreaterThanOrEqualTo(3);
            json.RootElement.GetProperty("ratios").EnumerateArray().Should().Contain(r => r.GetProperty("Name").GetString() == "AtP / (2F + 1B)");
            File.ReadAllText(Path.Combine(folder, "bench.md")).Should().Contain("| shape | ratio | value | target | met |");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void A_pytorch_file_is_read_into_the_report_and_a_missing_or_malformed_one_is_a_typed_error()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string good = Path.Combine(folder, "pytorch.json");
            File.WriteAllText(good, """{"machine": {"torch": "1.13"}, "rows": {"forward (1 row)": 0.05}}""");
            var (code, _) = CliTests.Run("bench", "--quick", "--only", "ioi", "--pytorch", good, "--out", folder);
            code.Should().Be(0);
            using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "bench.json"))))
                json.RootElement.GetProperty("pytorch").GetProperty("torch").GetString().Should().Be("1.13");

            string bad = Path.Combine(folder, "bad.json");
            File.WriteAllText(bad, """{"rows": 3}""");
            FluentActions.Invoking(() => CliTests.Run("bench", "--quick", "--pytorch", bad, "--out", folder))
                .Should().Throw<ArgumentException>().WithMessage("*not the JSON bench/pytorch_reference.py writes*");
            FluentActions.Invoking(() => CliTests.Run("bench", "--quick", "--pytorch", Path.Combine(folder, "none.json"), "--out", folder))
                .Should().Throw<ArgumentException>().WithMessage("*no file*");
            FluentActions.Invoking(() => CliTests.Run("bench", "--quick", "--only", "no-such-shape", "--out", folder))
                .Should().Throw<ArgumentException>().WithMessage("*matches no shape*");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [SkippableFact]
    public void The_pytorch_script_kept_beside_the_bench_times_each_operation_it_knows_and_a_dead_one_is_a_typed_error()
    {
        Skip.If(OperatingSystem.IsWindows(), "The stand-in Python is a shell script.");
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            // A stand-in for Python: speaks the script's --serve protocol without needing PyTorch.
            string fake = Executable(folder, "fake-python", """
                #!/bin/sh
                echo '{"machine": {"torch": "fake"}, "operations": ["forward (1 row)"]}'
                while read -r op; do echo "{\"op\": \"$op\", \"seconds\": 0.25}"; done
                """);
            using (var server = PyTorchServer.Start(fake, threads: 2))
            {
                server.Time("forward (1 row)").Should().Be(0.25);
                server.Time("an operation the script does not have").Should().BeNull();
                server.Machine.GetProperty("torch").GetString().Should().Be("fake");
                var reference = PyTorchReference.FromRows([new("GPT", "forward (1 row)", 0.3, 1, ReferenceSeconds: 0.25), new("GPT", "AtP", 0.2, 2)], server.Machine);
                reference.Seconds.Should().Equal(new Dictionary<string, double> { ["forward (1 row)"] = 0.25 });
                reference.Compare([new("GPT", "forward (1 row)", 0.3, 1)]).Single().Value.Should().BeApproximately(1.2, 1e-12);
            }

            string dead = Executable(folder, "dead-python", "#!/bin/sh\necho 'no torch here' >&2\nexit 3\n");
            FluentActions.Invoking(() => PyTorchServer.Start(dead, threads: 2))
                .Should().Throw<ArgumentException>().WithMessage("*stopped (exit code 3)*no torch here*");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    private static string Executable(string folder, string name, string text)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
