using System.Text.Json;
using CircuitDsl.Cli.Reports;

namespace CircuitDsl.Cli.Tests.Commands;

public class DemoCommandTests
{
    [Fact]
    public void Demo_on_the_embedded_model_writes_the_report_with_every_component()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"cdsl-demo-{Guid.NewGuid():N}");
        try
        {
            var (code, output) = CliTests.Run("demo", "--out", folder, "--pairs", "8");
            code.Should().Be(0);
            output.Should().Contain("against exact activation patching").And.Contain("FLAG").And.Contain("index.html").And.Contain("edges of IOI toy circuit");
            foreach (var file in AttributionReport.Files)
                new FileInfo(Path.Combine(folder, file)).Length.Should().BeGreaterThan(100, file);
            File.ReadAllBytes(Path.Combine(folder, "heatmaps.png"))[..4].Should().Equal(0x89, (byte)'P', (byte)'N', (byte)'G');

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "result.json")));
            var ids = json.RootElement.GetProperty("components").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
            ids.Should().HaveCount(15).And.Contain(["L0H0", "L2H3", "L0MLP", "L2MLP"]);
            json.RootElement.GetProperty("components").EnumerateArray().Should().Contain(c => c.GetProperty("flagged").GetBoolean(), "the IOI toy has components where AtP lies");
            File.ReadAllText(Path.Combine(folder, "index.html")).Should().Contain("heatmaps.png").And.Contain("scatter.png").And.Contain("L0MLP")
                .And.Contain("<td>DuplicateDetectors</td><td>Mlps</td><td>input</td>");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }
}
