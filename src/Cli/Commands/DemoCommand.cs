using System.CommandLine;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Training;
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
        var pairs = new Option<int>("--pairs") { Description = "Name-swap prompt pairs.", DefaultValueFactory = _ => 16 };
        var command = new Command("demo", "Run Screen–Flag–Fix against exact patching on the embedded IOI toy model and write a report.") { model, device, output, pairs };
        command.SetAction(parse =>
        {
            var console = Output.Console(parse);
            string path = parse.GetValue(model) ?? EmbeddedModels.Locate("ioi");
            var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
            var data = new IoiTask().Pairs(parse.GetValue(pairs), seed: 1);
            var components = Components.Heads(m.Config).Concat(Components.Mlps(m.Config)).ToList();
            console.MarkupLine($"[bold]CircuitDsl demo[/]: {components.Count} components of [bold]{Markup.Escape(Path.GetFileName(path.TrimEnd('/')))}[/], {data.Count} name-swap pairs such as");
            console.MarkupLine($"  clean     [green]{Markup.Escape(Describe(path, m, data[0].Clean))}[/]");
            console.MarkupLine($"  corrupted [red]{Markup.Escape(Describe(path, m, data[0].Corrupted))}[/]");

            // Screen–Flag–Fix as a user would run it, plus patching and HVP on everything to show where AtP lies.
            var options = new AttributionOptions { Methods = Methods.Patching | Methods.Hvp };
            var result = ProgressBars.Run("demo", progress => new AttributionEngine(m, options).Run(data, components, path, progress));

            console.Write(AttributionTable.Top(result, 12));
            console.Write(AttributionTable.Evaluation(result));
            console.Write(AttributionTable.Cost(result));
            string folder = parse.GetValue(output)!.FullName;
            string html = AttributionReport.Write(result, folder, m.Config.Layers, m.Config.Heads, "CircuitDsl demo — IOI toy model, name swap",
                "Where the network is non-linear downstream of a component, AtP (gᵀδ) misestimates the effect of patching it; " +
                "R̃ flags those components and the second-order correction repairs them.");
            console.MarkupLine($"report: [link]{Markup.Escape(html)}[/]");
            return 0;
        });
        return command;
    }

    private static string Describe(string path, Runtime.Models.HookedTransformer model, IReadOnlyList<int> ids) =>
        Runtime.Tokenizers.TokenizerLoader.Load(path, model.Config).Decode(ids);
}
