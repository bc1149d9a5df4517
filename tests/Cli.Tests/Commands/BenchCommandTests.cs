using System.Text.Json;

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
                "patching, all heads (cached start)", "Screen–Flag–Fix, all heads, Hutchinson screen (default)",
                "Screen–Flag–Fix, all heads, gradient-difference screen",
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
}
