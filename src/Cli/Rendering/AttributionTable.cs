using System.Globalization;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using Spectre.Console;

namespace CircuitDsl.Cli.Rendering;

/// <summary>Console renderings of attribution results.</summary>
internal static class AttributionTable
{
    /// <summary>Prints what a reader should know before trusting the result (<see cref="AttributionResult.Warnings"/>).</summary>
    public static void WriteWarnings(IAnsiConsole console, AttributionResult result)
    {
        foreach (var warning in result.Warnings) console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
    }

    /// <summary>The top components by |estimate| with every estimate computed, R̃, flag and bound.</summary>
    public static Table Top(AttributionResult result, int rows)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"top {rows} of {result.Components.Count} components — {Markup.Escape(result.Model)}, {result.Pairs} pair(s), M = {result.MetricKind}, M(x) = {result.CleanMetric:F3}, M(x′) = {result.CorruptedMetric:F3}");
        table.AddColumns("component", "patching", "AtP", "HVP", "MS-HVP", "IG", "R̃", "flag", "estimate", "± bound (est.)", "from");
        foreach (var c in result.Ranked().Take(rows))
        {
            table.AddRow(
                c.Id,
                Format(c.Patching),
                Format(c.Atp),
                Format(c.Hvp),
                Format(c.MsHvp),
                Format(c.Ig),
                c.RTilde is double r ? r.ToString("F2", CultureInfo.InvariantCulture) : "",
                c.Flagged ? "[red]FLAG[/]" : "",
                Format(c.Estimate),
                c.Bound is double b ? b.ToString("G2", CultureInfo.InvariantCulture) : "",
                c.EstimateMethod);
        }
        return table;
    }

    /// <summary>A hypothesis's groups with each component's estimate, bound, R̃ and flag.</summary>
    public static Table Hypothesis(string name, IEnumerable<(string Group, IReadOnlyList<ComponentEstimate> Estimates)> groups)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"hypothesis: {Markup.Escape(name)}");
        table.AddColumns("group", "component", "patching", "estimate", "± bound (est.)", "R̃", "flag");
        foreach (var (group, estimates) in groups)
            foreach (var c in estimates)
                table.AddRow(group, c.Id, Format(c.Patching), Format(c.Estimate), c.Bound?.ToString("G2", CultureInfo.InvariantCulture) ?? "",
                    c.RTilde?.ToString("F2", CultureInfo.InvariantCulture) ?? "", c.Flagged ? "[red]FLAG[/]" : "");
        return table;
    }

    /// <summary>A hypothesis's declared edges, each with the share of the clean-to-corrupted gap it carries alone.</summary>
    public static Table Edges(string name, IEnumerable<EdgeEffect> edges)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"edges of {Markup.Escape(name)} (path patching)");
        table.AddColumns("sender", "receiver", "input", "effect", "gap", "share of gap");
        foreach (var e in edges)
            table.AddRow(Markup.Escape(e.Sender), Markup.Escape(e.Receiver), e.Input, Format(e.Effect), Format(e.Gap), e.Share);
        return table;
    }

    /// <summary>The largest edges by estimate, with the exact path-patching effect of those measured.</summary>
    public static Table EdgeScreen(IReadOnlyList<EdgeEstimate> ranked, IReadOnlyDictionary<EdgeEstimate, EdgeEffect> exact, int rows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("edges by |estimate| (edge attribution patching)");
        table.AddColumns("sender", "receiver", "input", "estimate", "patching", "share of gap");
        foreach (var e in ranked.Take(rows))
        {
            var x = exact.GetValueOrDefault(e);
            table.AddRow(e.Sender.Id, e.Receiver.Id, e.Input, Format(e.Atp), Format(x?.Effect), x?.Share ?? "");
        }
        return table;
    }

    /// <summary>Agreement of each estimator with activation patching.</summary>
    public static Table Evaluation(AttributionResult result)
    {
        var e = result.Evaluation!;
        var table = new Table().Border(TableBorder.Rounded).Title("against exact activation patching");
        table.AddColumns("method", $"top-{e.TopK} overlap", "Spearman", "mean |error|", "median |error|", "vs AtP");
        foreach (var m in e.Methods)
            table.AddRow(m.Method, Format(m.TopKOverlap, "F2"), Format(m.Spearman, "F3"), Format(m.MeanAbsError, "G3"), Format(m.MedianAbsError, "G3"), Format(m.ErrorReductionVsAtp, "P0"));
        return table;
    }

    /// <summary>Passes and time per method.</summary>
    public static Table Cost(AttributionResult result)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("compute spent");
        table.AddColumns("method", "forward passes", "backward passes", "rows", "seconds");
        foreach (var (method, c) in result.Cost.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            table.AddRow(method, c.Forwards.ToString(CultureInfo.InvariantCulture), c.Backwards.ToString(CultureInfo.InvariantCulture),
                c.Rows.ToString(CultureInfo.InvariantCulture), c.Seconds.ToString("F2", CultureInfo.InvariantCulture));
        return table;
    }

    private static string Format(double? value, string format = "+0.0000;-0.0000;0.0000") =>
        value is double v ? (double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "NaN") : "[grey]–[/]";
}
