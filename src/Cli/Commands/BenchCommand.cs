using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Benchmarks;
using CircuitDsl.Runtime.Datasets;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Platform;
using CircuitDsl.Runtime.Tokenizers;
using CircuitDsl.Runtime.Training;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit bench</c>: every estimator's cost on several shapes, as ratios against the paper's cost model.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "Small shapes, one timed run each (< 2 minutes; what CI runs)." };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder for bench.md and bench.json.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("reports", "bench")) };
        var shared = new Option<DirectoryInfo?>("--shared") { Description = "The shared folder with models/stories260K (default: ../shared beside the repository)." };
        var maxMemory = new Option<string?>("--max-memory") { Description = "Memory budget for a double-backward chunk (e.g. 2GB); sets rows per chunk. Default: 48 rows." };
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var pytorch = new Option<string?>("--pytorch")
        {
            Description = "PyTorch eager times for the GPT-2-small rows: a JSON file written by bench/pytorch_reference.py, or 'run' to run that script beside the bench, each operation timed there in rounds alternating with the bench's (needs Python with PyTorch).",
        };
        var only = new Option<string?>("--only") { Description = "Only the shapes whose name contains this text (e.g. GPT-2-small, stories)." };
        var python = new Option<string>("--python") { Description = "The Python that has PyTorch, for --pytorch run.", DefaultValueFactory = _ => "python3" };
        var command = new Command("bench", "Time forward, backward, AtP, HVP, MS-HVP, IG, patching and Screen–Flag–Fix side by side.") { quick, output, shared, maxMemory, threads, pytorch, python, only };
        command.SetAction(parse =>
        {
            MklOnAmd.Apply(); // before any product, whatever the shapes build first
            if (parse.GetValue(threads) is int t) TorchSharp.torch.set_num_threads(t);
            bool isQuick = parse.GetValue(quick);
            string folder = parse.GetValue(output)!.FullName;
            Directory.CreateDirectory(folder);
            string? source = parse.GetValue(pytorch);
            var fromFile = source is null or "run" ? null : PyTorchReference.Load(source);
            using var server = source == "run" ? PyTorchServer.Start(parse.GetValue(python)!, TorchSharp.torch.get_num_threads()) : null;
            string filter = parse.GetValue(only) ?? "";
            var shapes = Shapes(isQuick, parse.GetValue(shared)?.FullName).Where(x => x.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
            if (shapes.Count == 0) throw new BenchInputException($"--only '{filter}' matches no shape.");
            var rows = new List<BenchRow>();
            var ratios = new List<BenchRatio>();
            foreach (var shape in shapes)
            {
                int maxRows = parse.GetValue(maxMemory) is { } budget
                    ? AttributionOptions.RowsForMemoryBudget(CommonOptions.ParseBytes(budget, "--max-memory"), ActivationBytesPerRow(shape))
                    : 48;
                var (r, q) = CostBenchmark.Run(shape, repeats: isQuick ? 1 : 3, maxRows: maxRows, log: s => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(s)}[/]"),
                    reference: shape.Name == GptSmallShape ? server : null);
                rows.AddRange(r);
                ratios.AddRange(q);
            }
            var reference = server is null ? fromFile : PyTorchReference.FromRows(rows.Where(r => r.Shape == GptSmallShape), server.Machine);
            if (reference is not null) ratios.AddRange(reference.Compare(rows.Where(r => r.Shape == GptSmallShape)));
            var console = Rendering.Output.Console(parse);
            var table = new Table().Border(TableBorder.Rounded).Title("cost ratios (same run, same machine)").AddColumns("shape", "ratio", "value", "target", "met");
            foreach (var q in ratios)
                table.AddRow(q.Shape, Markup.Escape(q.Name), q.Value.ToString("F2", CultureInfo.InvariantCulture), Markup.Escape(q.Target), q.Target == "report" ? "" : q.Met ? "[green]yes[/]" : "[red]no[/]");
            console.Write(table);
            File.WriteAllText(Path.Combine(folder, "bench.md"), Markdown(rows, ratios));
            File.WriteAllText(Path.Combine(folder, "bench.json"), JsonSerializer.Serialize(new { machine = Machine(), rows, ratios, pytorch = reference?.Machine }, new JsonSerializerOptions { WriteIndented = true }));
            // The interleaved PyTorch times, in the file format --pytorch reads back.
            if (server is not null)
                File.WriteAllText(Path.Combine(folder, "pytorch.json"), JsonSerializer.Serialize(new { machine = reference!.Machine, rows = reference.Seconds }, new JsonSerializerOptions { WriteIndented = true }));
            console.MarkupLine($"wrote [bold]{Markup.Escape(Path.Combine(folder, "bench.md"))}[/] and bench.json{(server is null ? "" : " and pytorch.json")}");
            return 0;
        });
        return command;
    }

    private static IEnumerable<BenchShape> Shapes(bool quick, string? shared)
    {
        foreach (var name in new[] { "ioi", "induction" })
        {
            var task = ToyTask.Create(name);
            yield return new BenchShape($"{name} toy", ModelLoader.Load(EmbeddedModels.Locate(name)), task.Pairs(1, seed: 3)[0]);
        }
        if (!quick && Stories(shared) is { } stories)
        {
            var model = ModelLoader.Load(stories);
            var pair = NameSwap.Build(TokenizerLoader.Load(stories, model.Config), ["Lily", "Tim"])[0];
            yield return new BenchShape("stories260K", model, pair);
        }
        var gpt2 = SyntheticGpt2.Shape(miniature: quick);
        yield return quick ? gpt2 : gpt2 with { ReferenceHvpBytesPerRow = ReferenceHvpChunkBytes / 48 };
    }

    /// <summary>The issue's reference: peak memory of a 48-row double-backward HVP chunk in PyTorch, GPT-2 small, T = 16 (1.3 GB).</summary>
    private const long ReferenceHvpChunkBytes = 1_300_000_000;

    /// <summary>The shape bench/pytorch_reference.py reproduces.</summary>
    internal const string GptSmallShape = SyntheticGpt2.SmallShapeName;

    private static string? Stories(string? shared)
    {
        string model = Path.Combine("models", "stories260K", "stories260K.bin");
        if (shared is not null) return Path.Combine(shared, model) is var p && File.Exists(p) ? p : null;
        return WorkingTree.FindAbove(Path.Combine("..", "shared", model));
    }

    // Activations a forward keeps per row, roughly: residual, norms, q/k/v/z, scores and pattern, MLP widths, per layer.
    private static long ActivationBytesPerRow(BenchShape s)
    {
        var c = s.Model.Config;
        long t = s.Pair.Clean.Count;
        return 4L * c.Layers * t * (8L * c.Hidden + 4L * c.Heads * c.HeadDim + 2L * c.Heads * t + 3L * c.Intermediate);
    }

    private static object Machine() => new
    {
        os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        cores = Environment.ProcessorCount,
        torch = TorchSharp.torch.__version__,
        threads = TorchSharp.torch.get_num_threads(),
        mkl = MklOnAmd.Description,
        date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
    };

    private static string Markdown(IReadOnlyList<BenchRow> rows, IReadOnlyList<BenchRatio> ratios)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# circuit bench — {Environment.ProcessorCount} cores, torch {TorchSharp.torch.__version__}, {TorchSharp.torch.get_num_threads()} threads");
        sb.AppendLine();
        sb.AppendLine(MklOnAmd.Description);
        sb.AppendLine();
        sb.AppendLine("Times are medians of the timed runs (about a second of runs for operations under a second, one run otherwise and with --quick). The TorchSharp / PyTorch, AtP / (2F + 1B) and "
            + "patching end to end / Screen–Flag–Fix ratios are medians of rounds timed alternately, so they can differ from the quotient of "
            + "the two times in the second table.");
        sb.AppendLine();
        sb.AppendLine("| shape | ratio | value | target | met |");
        sb.AppendLine("| --- | --- | ---: | --- | --- |");
        foreach (var q in ratios)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {q.Shape} | {q.Name} | {q.Value:F2} | {q.Target} | {(q.Target == "report" ? "" : q.Met ? "yes" : "no")} |");
        sb.AppendLine();
        sb.AppendLine("| shape | operation | seconds | rows | peak MiB |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: |");
        foreach (var r in rows)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Shape} | {r.Operation} | {r.Seconds:F4} | {r.Rows} | {(r.PeakBytes > 0 ? (r.PeakBytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) : "")} |");
        return sb.ToString();
    }
}
