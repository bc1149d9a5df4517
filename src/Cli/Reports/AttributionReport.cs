using System.Globalization;
using System.Net;
using System.Text;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Reporting;
using ScottPlot;

namespace CircuitDsl.Cli.Reports;

/// <summary>
/// A report folder for one attribution result: layer × head heatmaps of patching, AtP, HVP, the final estimate and R̃
/// side by side (the paper's landscape figure, flagged cells marked), a scatter of the estimates against patching
/// with the final estimate's bounds, an HTML page tying them together, and the JSON.
/// </summary>
public static class AttributionReport
{
    /// <summary>Files written, relative to the report folder.</summary>
    public static readonly string[] Files = ["heatmaps.png", "scatter.png", "index.html", "result.json"];

    /// <summary>Writes the report into <paramref name="folder"/> and returns the HTML page's path.</summary>
    public static string Write(AttributionResult result, string folder, int layers, int heads, string title, string? hypothesis = null,
        IReadOnlyList<EdgeEffect>? edges = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "result.json"), AttributionJson.Write(result));
        Heatmaps(result, layers, heads).SavePng(Path.Combine(folder, "heatmaps.png"), 2000, 80 + 70 * Math.Max(layers, 3));
        Scatter(result).SavePng(Path.Combine(folder, "scatter.png"), 640, 560);
        string html = Path.Combine(folder, "index.html");
        File.WriteAllText(html, Html(result, title, hypothesis, edges ?? []));
        return html;
    }

    private static Multiplot Heatmaps(AttributionResult result, int layers, int heads)
    {
        var panels = new (string Title, Func<ComponentEstimate, double?> Value, bool Diverging)[]
        {
            ("activation patching Δ", c => c.Patching, true),
            ("AtP  (g·δ)", c => c.Atp, true),
            ("HVP  (g·δ + ½ δ·Hδ)", c => c.Hvp, true),
            ("Screen–Flag–Fix estimate", c => c.Estimate, true),
            ("reliability R̃  (× flagged)", c => c.RTilde, false),
        };
        // One colour scale for the effect maps, centred at 0, so they compare at a glance.
        bool mlps = result.Components.Any(c => c.Component.Kind == ComponentKind.Mlp);
        int columns = heads + (mlps ? 1 : 0);
        double extent = result.Components.Where(c => c.Component.Kind is ComponentKind.Head or ComponentKind.Mlp && c.Component.Position is null)
            .SelectMany(c => new[] { c.Patching, c.Atp, c.Hvp, c.Estimate }).Where(v => v is double d && double.IsFinite(d)).Select(v => Math.Abs(v!.Value)).DefaultIfEmpty(1).Max();
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Length);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int i = 0; i < panels.Length; i++)
        {
            var plot = multiplot.GetPlot(i);
            // Rows are layers (ScottPlot draws row 0 at the top, like a layer table); the last column is the MLP.
            var grid = new double[layers, columns];
            for (int l = 0; l < layers; l++) for (int h = 0; h < columns; h++) grid[l, h] = double.NaN;
            foreach (var c in result.Components.Where(c => c.Component.Position is null))
            {
                if (c.Component.Kind == ComponentKind.Head) grid[c.Component.Layer, c.Component.Index] = panels[i].Value(c) ?? double.NaN;
                if (c.Component.Kind == ComponentKind.Mlp && mlps) grid[c.Component.Layer, heads] = panels[i].Value(c) ?? double.NaN;
            }
            var heatmap = plot.Add.Heatmap(grid);
            heatmap.Colormap = panels[i].Diverging ? new ScottPlot.Colormaps.Balance() : new ScottPlot.Colormaps.Amp();
            heatmap.ManualRange = panels[i].Diverging ? new ScottPlot.Range(-extent, extent) : new ScottPlot.Range(0, 1);
            heatmap.NaNCellColor = Colors.LightGray;
            plot.Add.ColorBar(heatmap);
            if (!panels[i].Diverging) MarkFlagged(plot, result, layers, heads);
            plot.Title(panels[i].Title);
            plot.XLabel(mlps ? "head (and MLP)" : "head");
            plot.YLabel("layer");
            plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, columns).Select(h => (double)h)],
                [.. Enumerable.Range(0, columns).Select(h => h < heads ? h.ToString(CultureInfo.InvariantCulture) : "MLP")]);
            plot.Axes.Left.SetTicks([.. Enumerable.Range(0, layers).Select(l => (double)(layers - 1 - l))], [.. Enumerable.Range(0, layers).Select(l => l.ToString(CultureInfo.InvariantCulture))]);
        }
        return multiplot;
    }

    // A cross on each flagged cell (row l is drawn at y = layers − 1 − l, as the ticks say).
    private static void MarkFlagged(Plot plot, AttributionResult result, int layers, int heads)
    {
        var flagged = result.Components.Where(c => c.Flagged && c.Component.Position is null && c.Component.Kind is ComponentKind.Head or ComponentKind.Mlp).ToList();
        if (flagged.Count == 0) return;
        double[] xs = [.. flagged.Select(c => (double)(c.Component.Kind == ComponentKind.Mlp ? heads : c.Component.Index))];
        double[] ys = [.. flagged.Select(c => (double)(layers - 1 - c.Component.Layer))];
        var marks = plot.Add.Markers(xs, ys, MarkerShape.Eks, 12, Colors.Black);
        marks.MarkerLineWidth = 2;
    }

    private static Plot Scatter(AttributionResult result)
    {
        var plot = new Plot();
        var known = result.Components.Where(c => c.Patching is not null).ToList();
        double[] truth = [.. known.Select(c => c.Patching!.Value)];
        var atp = plot.Add.ScatterPoints(truth, known.Select(c => c.Atp).ToArray());
        atp.LegendText = "AtP";
        atp.MarkerSize = 7;
        var withHvp = known.Where(c => c.Hvp is not null).ToList();
        if (withHvp.Count > 0)
        {
            var hvp = plot.Add.ScatterPoints(withHvp.Select(c => c.Patching!.Value).ToArray(), withHvp.Select(c => c.Hvp!.Value).ToArray());
            hvp.LegendText = "HVP";
            hvp.MarkerSize = 7;
        }
        var withMs = known.Where(c => c.MsHvp is not null).ToList();
        if (withMs.Count > 0)
        {
            var ms = plot.Add.ScatterPoints(withMs.Select(c => c.Patching!.Value).ToArray(), withMs.Select(c => c.MsHvp!.Value).ToArray());
            ms.LegendText = "MS-HVP (flagged)";
            ms.MarkerSize = 9;
            ms.MarkerShape = MarkerShape.OpenDiamond;
        }
        // The final estimate with its estimated bound: flagged components sit on the diagonal (patched, bound 0),
        // the others show whether their bound reaches the exact value.
        var final = plot.Add.ScatterPoints(truth, known.Select(c => c.Estimate).ToArray());
        final.LegendText = "Screen–Flag–Fix estimate ± bound";
        final.MarkerSize = 10;
        final.MarkerShape = MarkerShape.OpenCircle;
        final.Color = Colors.Black;
        var bounds = plot.Add.ErrorBar(truth, known.Select(c => c.Estimate).ToArray(), known.Select(c => c.Bound ?? 0).ToArray());
        bounds.Color = Colors.Black;
        double lo = Math.Min(0, truth.DefaultIfEmpty(0).Min()), hi = Math.Max(0, truth.DefaultIfEmpty(0).Max());
        var diagonal = plot.Add.Line(lo, lo, hi, hi);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.Color = Colors.Gray;
        diagonal.LegendText = "exact";
        plot.Title("estimates against activation patching");
        plot.XLabel($"activation patching Δ ({result.MetricKind})");
        plot.YLabel("estimate");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    /// <summary>A signed number for the reports' tables, "–" when absent or not finite (0.000 when it rounds to zero).</summary>
    internal static string Signed(double? value) =>
        value is double d && double.IsFinite(d) ? d.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "–";

    private static string Html(AttributionResult result, string title, string? hypothesis, IReadOnlyList<EdgeEffect> edges)
    {
        string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title><style>")
          .Append("*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1650px;color:#222}img{max-width:100%;height:auto;border:1px solid #ddd}")
          .Append("table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}th{background:#f5f5f5}")
          .Append("td:first-child,th:first-child{text-align:left}.flag{color:#b00;font-weight:bold}.note{color:#666;font-size:90%}</style></head><body>");
        sb.Append("<h1>").Append(E(title)).Append("</h1>");
        sb.Append("<p>Model <code>").Append(E(result.Model)).Append("</code>, ").Append(result.Pairs).Append(" prompt pairs, metric ")
          .Append(E(result.MetricKind)).Append(": M(x) = ").Append(Signed(result.CleanMetric)).Append(", M(x′) = ").Append(Signed(result.CorruptedMetric)).Append(".</p>");
        foreach (var warning in result.Warnings) sb.Append("<p class=\"flag\">Warning: ").Append(E(warning)).Append("</p>");
        if (hypothesis is not null) sb.Append("<p>").Append(E(hypothesis)).Append("</p>");
        sb.Append("<h2>Landscape</h2><img src=\"heatmaps.png\" alt=\"layer by head heatmaps of patching, AtP, HVP, the final estimate and R-tilde, flagged cells crossed\">");
        sb.Append("<h2>Against patching</h2><img src=\"scatter.png\" alt=\"scatter of estimates against activation patching\">");
        if (result.Evaluation is { } e)
        {
            sb.Append("<table><tr><th>method</th><th>top-").Append(e.TopK).Append(" overlap</th><th>Spearman</th><th>mean |error|</th><th>vs AtP</th></tr>");
            foreach (var m in e.Methods)
                sb.Append("<tr><td>").Append(E(m.Method)).Append("</td><td>").Append(m.TopKOverlap.ToString("F2", CultureInfo.InvariantCulture)).Append("</td><td>")
                  .Append(m.Spearman.ToString("F3", CultureInfo.InvariantCulture)).Append("</td><td>").Append(m.MeanAbsError.ToString("G3", CultureInfo.InvariantCulture))
                  .Append("</td><td>").Append(m.ErrorReductionVsAtp.ToString("P0", CultureInfo.InvariantCulture)).Append("</td></tr>");
            sb.Append("</table>");
        }
        if (edges.Count > 0)
        {
            sb.Append("<h2>Declared edges (path patching)</h2><table><tr><th>sender</th><th>receiver</th><th>input</th><th>effect</th><th>gap</th><th>share of gap</th></tr>");
            foreach (var edge in edges)
                sb.Append("<tr><td>").Append(E(edge.Sender)).Append("</td><td>").Append(E(edge.Receiver)).Append("</td><td>").Append(edge.Input).Append("</td><td>")
                  .Append(Signed(edge.Effect)).Append("</td><td>").Append(Signed(edge.Gap)).Append("</td><td>").Append(edge.Share).Append("</td></tr>");
            sb.Append("</table>");
        }
        sb.Append("<h2>Components</h2><table><tr><th>component</th><th>patching</th><th>AtP</th><th>HVP</th><th>MS-HVP</th><th>R̃</th><th>flag</th><th>estimate</th><th>± bound (est.)</th></tr>");
        foreach (var c in result.Ranked())
            sb.Append("<tr><td>").Append(E(c.Id)).Append("</td><td>").Append(Signed(c.Patching)).Append("</td><td>").Append(Signed(c.Atp)).Append("</td><td>").Append(Signed(c.Hvp))
              .Append("</td><td>").Append(Signed(c.MsHvp)).Append("</td><td>").Append(c.RTilde?.ToString("F2", CultureInfo.InvariantCulture) ?? "–").Append("</td><td class=\"flag\">")
              .Append(c.Flagged ? "FLAG" : "").Append("</td><td>").Append(Signed(c.Estimate)).Append("</td><td>").Append(c.Bound?.ToString("G2", CultureInfo.InvariantCulture) ?? "–").Append("</td></tr>");
        sb.Append("</table><p class=\"note\">").Append(E(ComponentEstimate.BoundExplanation)).Append(' ')
          .Append("R̃ = |½δᵀHδ| / (|gᵀδ| + |½δᵀHδ| + ε·|M(x) − M(x′)|); flagged when R̃ ≥ ").Append(result.Options.Tau.ToString("F2", CultureInfo.InvariantCulture))
          .Append(". Full data: <a href=\"result.json\">result.json</a>.</p></body></html>");
        return sb.ToString();
    }
}
