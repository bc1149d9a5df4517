using System.CommandLine;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Reporting;
using CircuitDsl.Runtime.Sharding;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit attribute</c>: Screen–Flag–Fix (and any other estimator) on one prompt pair or a dataset.</summary>
internal static class AttributeCommand
{
    // The options' defaults are the engine's: one place to change them.
    private static readonly AttributionOptions Defaults = new();

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var pairs = new PairOptions();
        var components = new Option<string>("--components") { Description = "heads, mlps, neurons, resid, qkv, heads-pos, or ids (L3H5,L2MLP), comma-separated.", DefaultValueFactory = _ => "heads,mlps" };
        var methods = new Option<string>("--methods") { Description = "Estimators for every component: patching,atp,hvp,mshvp,ig,atpstar,gim (Screen–Flag–Fix always runs unless --no-sff).", DefaultValueFactory = _ => "" };
        var noSff = new Option<bool>("--no-sff") { Description = "Skip Screen–Flag–Fix; compute only --methods." };
        var k = new Option<int>("--k") { Description = "MS-HVP sub-steps.", DefaultValueFactory = _ => Defaults.K };
        var igSteps = new Option<int>("--ig-steps") { Description = "IG grid points.", DefaultValueFactory = _ => Defaults.IgSteps };
        var tau = new Option<double>("--tau") { Description = "Flag threshold on R̃.", DefaultValueFactory = _ => Defaults.Tau };
        var screen = new Option<CurvatureScreen>("--screen") { Description = "Cheap screen for the flag stage.", DefaultValueFactory = _ => Defaults.Screen };
        var probes = new Option<int>("--probes") { Description = "Hutchinson probes (the screen's budget).", DefaultValueFactory = _ => Defaults.HutchinsonProbes };
        var fix = new Option<FixMethod>("--fix")
        {
            Description = "How Screen–Flag–Fix fixes a flagged estimate: Patching (exact, a forward row each) or SecondOrder (gᵀδ + ½δᵀHδ from the flag stage, no pass of its own, bound |½δᵀHδ|).",
            DefaultValueFactory = _ => Defaults.Fix,
        };
        var screenFraction = new Option<double?>("--screen-fraction") { Description = "Screened R̃ that earns an exact HVP, as a fraction of τ (default: 0.75 Hutchinson, 0.25 gradient difference)." };
        var top = CommonOptions.Top("Rows of the console table.", 15);
        var rows = new Option<int>("--rows-per-chunk") { Description = "Batch rows per forward (memory knob).", DefaultValueFactory = _ => Defaults.MaxRowsPerChunk };
        var json = new Option<FileInfo?>("--json") { Description = "Write the full result as JSON." };
        var report = new Option<DirectoryInfo?>("--report") { Description = "Write an HTML report to this folder: per-layer heatmaps of heads and MLPs, estimates against patching (with --methods patching), the JSON." };
        var shard = new Option<string?>("--shard") { Description = "Run shard i/n only (with --no-sff) and write --partial; combine with `circuit merge`." };
        var shardAxis = new Option<ShardAxis>("--shard-axis") { Description = "Split pairs or components across shards.", DefaultValueFactory = _ => ShardAxis.Pairs };
        var partial = new Option<FileInfo?>("--partial") { Description = "Where a shard writes its partial result." };
        var recordMemory = new Option<string>("--record-memory")
        {
            Description = "Memory for the pairs' records of their clean runs, which make exact curvature cheaper (e.g. 2GB; 0 records none; pairs beyond it are as exact, slower).",
            DefaultValueFactory = _ => "2GB",
        };
        var stateMemory = new Option<string>("--state-memory")
        {
            Description = "Memory for the pairs' states (clean caches, δ, gradients, records) kept from AtP to the later stages (e.g. 8GB; 0 keeps none; pairs beyond it are rebuilt by each stage that needs them).",
            DefaultValueFactory = _ => "8GB",
        };
        var devices = new Option<string?>("--devices") { Description = "Comma-separated devices (cuda:0,cuda:1 or cpu,cpu): one worker process per device, one shard each, merged." };

        var command = new Command("attribute", "Attribute a metric (by default the answer − wrong logit difference) to components with Screen–Flag–Fix.")
        {
            model, device, components, methods, noSff, k, igSteps, tau, screen, probes, screenFraction, fix, top, rows, recordMemory, stateMemory, json, report, shard, shardAxis, partial, devices,
        };
        foreach (var option in pairs.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
            var data = pairs.Read(parse, path, m.Config);

            var options = new AttributionOptions
            {
                Metric = pairs.ReadMetric(parse),
                ScreenFlagFix = !parse.GetValue(noSff),
                Methods = ParseMethods(parse.GetValue(methods)!),
                K = parse.GetValue(k),
                IgSteps = parse.GetValue(igSteps),
                Tau = parse.GetValue(tau),
                Screen = parse.GetValue(screen),
                HutchinsonProbes = parse.GetValue(probes),
                ScreenTauFraction = parse.GetValue(screenFraction),
                Fix = parse.GetValue(fix),
                MaxRowsPerChunk = parse.GetValue(rows),
                CleanRecordBudget = CommonOptions.ParseBytes(parse.GetValue(recordMemory)!, "--record-memory", allowZero: true),
                PairStateBudget = CommonOptions.ParseBytes(parse.GetValue(stateMemory)!, "--state-memory", allowZero: true),
            };
            var set = Components.Parse(parse.GetValue(components)!, m.Config, data.Min(p => p.Clean.Count));
            var console = Output.Console(parse);
            AttributionResult result;
            if (parse.GetValue(shard) is { } shardText)
            {
                var spec = ShardSpec.Parse(shardText, parse.GetValue(shardAxis));
                var target = parse.GetValue(partial) ?? throw new ArgumentException("--shard needs --partial FILE to write the shard's result.");
                ShardedAttribution.RunShard(m, path, data, set, options, spec).Save(target.FullName);
                console.MarkupLine($"shard {spec.Index}/{spec.Count}: wrote [bold]{Markup.Escape(target.FullName)}[/]");
                return 0;
            }
            if (parse.GetValue(devices) is { } deviceList)
                result = Workers.Run(deviceList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), parse, parse.GetValue(shardAxis));
            else
                result = ProgressBars.Run("attribution", progress => new AttributionEngine(m, options).Run(data, set, path, progress));

            AttributionTable.WriteWarnings(console, result);
            console.Write(AttributionTable.Top(result, parse.GetValue(top)));
            if (result.Evaluation is not null) console.Write(AttributionTable.Evaluation(result));
            console.Write(AttributionTable.Cost(result));
            console.MarkupLine($"[grey]{Markup.Escape(ComponentEstimate.BoundExplanation)}[/]");
            if (parse.GetValue(json) is { } output)
            {
                File.WriteAllText(output.FullName, AttributionJson.Write(result));
                console.MarkupLine($"wrote [bold]{Markup.Escape(output.FullName)}[/]");
            }
            if (parse.GetValue(report) is { } folder)
            {
                string html = AttributionReport.Write(result, folder.FullName, m.Config.Layers, m.Config.Heads, $"CircuitDsl — {Path.GetFileName(path.TrimEnd('/'))}");
                console.MarkupLine($"report: [link]{Markup.Escape(html)}[/]");
            }
            return 0;
        });
        return command;
    }

    public static Methods ParseMethods(string text)
    {
        var methods = Methods.None;
        foreach (string name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            methods |= name.ToLowerInvariant() switch
            {
                "patching" => Methods.Patching,
                "atp" => Methods.Atp,
                "hvp" => Methods.Hvp,
                "mshvp" or "ms-hvp" => Methods.MsHvp,
                "ig" => Methods.Ig,
                "atpstar" or "atp*" => Methods.AtpStar,
                "gim" => Methods.Gim,
                _ => throw new ArgumentException($"Unknown method '{name}'; choose from patching, atp, hvp, mshvp, ig, atpstar, gim."),
            };
        return methods;
    }
}
