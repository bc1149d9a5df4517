using System.CommandLine;
using CircuitDsl.Cli.Hypotheses;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary>
/// <c>circuit demo</c>, the main job: on the embedded IOI toy model, Screen–Flag–Fix next to exact activation
/// patching, a console table, and a report folder (heatmaps, scatter, HTML, JSON). Offline, under two minutes.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        var device = CommonOptions.Device();
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Report folder.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("reports", "demo")) };
        var pairs = new Option<int>("--pairs") { Description = "Name-swap prompt pairs for the landscape (at most the hypothesis's 16).", DefaultValueFactory = _ => 16 };
        pairs.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is var n and < 1) result.AddError($"--pairs must be at least 1; got {n}.");
        });
        var command = new Command("demo", "Run Screen–Flag–Fix against exact patching on the embedded IOI toy model and write a report.") { model, device, output, pairs };
        command.SetAction(parse =>
        {
            var console = Output.Console(parse);
            string path = parse.GetValue(model) ?? EmbeddedModels.Locate("ioi");
            var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
            var tokenizer = TokenizerLoader.Load(path, m.Config);
            // The prompt pairs are the hypothesis file's own (template, slots, name swap), so both tables agree.
            var data = ExperimentRunner.Pairs(tokenizer, IoiToyNameSwap.Plan).Take(parse.GetValue(pairs)).ToList();
            var components = Components.Heads(m.Config).Concat(Components.Mlps(m.Config)).ToList();
            console.MarkupLine($"[bold]CircuitDsl demo[/]: {components.Count} components of [bold]{Markup.Escape(Path.GetFileName(path.TrimEnd('/')))}[/], {data.Count} name-swap pairs such as");
            console.MarkupLine($"  clean     [green]{Markup.Escape(tokenizer.Decode(data[0].Clean))}[/]");
            console.MarkupLine($"  corrupted [red]{Markup.Escape(tokenizer.Decode(data[0].Corrupted))}[/]");

            // Screen–Flag–Fix as a user would run it, plus patching and HVP on everything to show where AtP lies.
            var options = new AttributionOptions { Methods = Methods.Patching | Methods.Hvp };
            var result = ProgressBars.Run("demo", progress => new AttributionEngine(m, options).Run(data, components, path, progress));

            console.Write(AttributionTable.Top(result, 12));
            console.Write(AttributionTable.Evaluation(result));
            console.Write(AttributionTable.Cost(result));

            // The hypothesis file (Hypotheses/IoiToyHypothesis.cs), compiled by our generator, run in one call.
            var hypothesis = IoiToyNameSwap.Run(m, tokenizer);
            var groups = IoiToyCircuit.Groups.Select(g => (g.Name, (IReadOnlyList<ComponentEstimate>)hypothesis.Attribution.Group(g))).ToList();
            console.Write(AttributionTable.Hypothesis(IoiToyCircuit.CircuitName, groups));
            var claimed = groups.SelectMany(g => g.Item2).Select(e => e.Id).ToHashSet();
            var topByPatching = result.Components.OrderByDescending(c => Math.Abs(c.Patching ?? 0)).Take(claimed.Count).Select(c => c.Id).ToList();
            var missing = topByPatching.Where(id => !claimed.Contains(id)).ToList();
            string coverage = $"The hypothesis names {claimed.Count} components; {topByPatching.Count - missing.Count} of the top {claimed.Count} by exact patching are among them" +
                (missing.Count == 0 ? "." : $" (not claimed: {string.Join(", ", missing)}).");
            console.MarkupLine(Markup.Escape(coverage));
            console.Write(AttributionTable.Edges(IoiToyCircuit.CircuitName, hypothesis.Edges));

            string folder = parse.GetValue(output)!.FullName;
            string html = AttributionReport.Write(result, folder, m.Config.Layers, m.Config.Heads, "CircuitDsl demo — IOI toy model, name swap",
                "Where the network is non-linear downstream of a component, AtP (gᵀδ) misestimates the effect of patching it; " +
                "R̃ flags those components and the second-order correction repairs them. " + coverage, hypothesis.Edges);
            console.MarkupLine($"report: [link]{Markup.Escape(html)}[/]");
            return 0;
        });
        return command;
    }
}
