using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Loading;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary>
/// <c>circuit edges</c>: every edge from the embedding, heads and MLPs into later heads' queries, keys and values, MLPs'
/// inputs and the logits screened by edge attribution patching, the largest measured exactly by path patching.
/// </summary>
internal static class EdgesCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var pairs = new PairOptions();
        var senders = new Option<string>("--senders") { Description = "Senders: embed, heads, mlps or ids (embed@3, L0H1, L0MLP), comma-separated.", DefaultValueFactory = _ => "embed,heads,mlps" };
        var receivers = new Option<string>("--receivers") { Description = "Receivers: heads (their query, key and value heads), mlps (their inputs), qkv, logits, or ids (L1H0, L1H0Q, L1H1K, L2MLP), comma-separated.", DefaultValueFactory = _ => "heads,mlps,logits" };
        var top = CommonOptions.Top("Edges, by |estimate|, measured exactly by path patching (0: none).", 10);
        var json = new Option<FileInfo?>("--json") { Description = "Write every edge's estimate (and the exact effects measured) as JSON." };
        var report = new Option<DirectoryInfo?>("--report") { Description = "Write an HTML report to this folder: the largest edges drawn over the model's layers, the table, the JSON." };
        var command = new Command("edges", "Screen every edge from the embedding, heads and MLPs into heads' queries, keys and values, MLPs' inputs and the logits (edge attribution patching); measure the largest exactly.")
        {
            model, device, senders, receivers, top, json, report,
        };
        foreach (var option in pairs.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
            var data = pairs.Read(parse, path, m.Config);
            int positions = data.Min(p => p.Clean.Count);
            var from = Components.Parse(parse.GetValue(senders)!, m.Config, positions);
            var into = Components.Parse(parse.GetValue(receivers)!, m.Config, positions);
            int measured = parse.GetValue(top);

            var clock = Stopwatch.StartNew();
            var metric = pairs.ReadMetric(parse);
            var estimates = new EdgeAttribution(m, data, metric).Estimate(from, into);
            if (estimates.Count == 0)
                throw new ArgumentException("No edge to estimate: every receiver reads the residual stream before every sender writes it; a sender must come earlier in the forward pass.");
            double screenSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var patching = new EdgePatching(m, data, metric);
            var ranked = estimates.OrderByDescending(e => Math.Abs(e.Atp)).ToList();
            var exact = ranked.Take(measured).ToDictionary(e => e, e => patching.Measure([e.Sender], [e.Receiver]));
            double patchSeconds = clock.Elapsed.TotalSeconds;

            var console = Output.Console(parse);
            console.Write(AttributionTable.EdgeScreen(ranked, exact, Math.Max(measured, 15)));
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{estimates.Count} edges estimated over {data.Count} pair(s) in {screenSeconds:F2} s; {exact.Count} measured exactly in {patchSeconds:F2} s.")));
            if (exact.Count > 0)
            {
                // How far to trust the screen's order below the measured edges: how it fared on them.
                int close = exact.Count(x => Math.Abs(x.Key.Atp - x.Value.Effect) <= 0.2 * Math.Abs(x.Value.Effect));
                int sign = exact.Count(x => Math.Sign(x.Key.Atp) == Math.Sign(x.Value.Effect));
                var worst = exact.MaxBy(x => Math.Abs(x.Key.Atp - x.Value.Effect));
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"On the measured edges the estimate is within 20 % of path patching for {close} of {exact.Count}, of its sign for {sign}; furthest: {worst.Key.Sender.Id} → {worst.Key.Receiver.Id} ({worst.Key.Atp:+0.000;-0.000;0.000} against {worst.Value.Effect:+0.000;-0.000;0.000}).")));
            }
            var rows = ranked.Select(e => new
            {
                sender = e.Sender.Id, receiver = e.Receiver.Id, input = e.Input, estimate = e.Atp,
                patching = exact.TryGetValue(e, out var x) ? x.Effect : (double?)null,
                shareOfGap = x?.Fraction,
            });
            string edgesJson = JsonSerializer.Serialize(new { model = path, pairs = data.Count, metric = AnswerMetric.Name(metric), edges = rows }, new JsonSerializerOptions { WriteIndented = true });
            if (parse.GetValue(json) is { } file)
            {
                File.WriteAllText(file.FullName, edgesJson);
                console.MarkupLine($"wrote [bold]{Markup.Escape(file.FullName)}[/]");
            }
            if (parse.GetValue(report) is { } folder)
            {
                string html = EdgeReport.Write(ranked, exact, m.Config, $"CircuitDsl edges — {Path.GetFileName(path.TrimEnd('/'))}", edgesJson, folder.FullName);
                console.MarkupLine($"report: [link]{Markup.Escape(html)}[/]");
            }
            return 0;
        });
        return command;
    }
}
