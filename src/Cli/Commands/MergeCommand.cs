using System.CommandLine;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Runtime.Reporting;
using CircuitDsl.Runtime.Sharding;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit merge PARTIAL…</c>: combines shard results into the single-run result.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var partials = new Argument<FileInfo[]>("partials") { Description = "Partial result files written by --shard.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<FileInfo?>("--json") { Description = "Write the merged result as JSON." };
        var top = CommonOptions.Top("Rows of the console table.", 15);
        var command = new Command("merge", "Merge partial results from sharded runs (refuses partials of different models, configs or versions).") { partials, json, top };
        command.SetAction(parse =>
        {
            var result = ShardedAttribution.Merge([.. parse.GetValue(partials)!.Select(f => PartialResult.Load(f.FullName))]);
            var console = Output.Console(parse);
            console.Write(AttributionTable.Top(result, parse.GetValue(top)));
            if (result.Evaluation is not null) console.Write(AttributionTable.Evaluation(result));
            if (parse.GetValue(json) is { } output)
            {
                File.WriteAllText(output.FullName, AttributionJson.Write(result));
                console.MarkupLine($"wrote [bold]{Markup.Escape(output.FullName)}[/]");
            }
            return 0;
        });
        return command;
    }
}
