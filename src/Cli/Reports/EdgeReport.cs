using System.Globalization;
using System.Net;
using System.Text;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Loading;
using ScottPlot;

namespace CircuitDsl.Cli.Reports;

/// <summary>
/// A report folder for an edge screen: the largest edges drawn as a graph over the model (the embedding at the bottom,
/// a row of heads and the MLP per layer, the logits at the top; line width ∝ |effect|, red raises the metric, blue
/// lowers it; query, key and value edges drawn solid, dashed and dotted), an HTML table beside it, and the JSON.
/// </summary>
public static class EdgeReport
{
    /// <summary>Writes the report into <paramref name="folder"/> and returns the HTML page's path. The graph draws
    /// <paramref name="drawn"/> edges by |effect|: the path-patched effect where measured, else the estimate.</summary>
    public static string Write(IReadOnlyList<EdgeEstimate> ranked, IReadOnlyDictionary<EdgeEstimate, EdgeEffect> exact, ModelConfig config,
        string title, string json, string folder, int drawn = 30)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "edges.json"), json);
        double Value(EdgeEstimate e) => exact.TryGetValue(e, out var x) ? x.Effect : e.Atp;
        var shown = ranked.OrderByDescending(e => Math.Abs(Value(e))).Take(drawn).ToList();
        Graph(shown, Value, config).SavePng(Path.Combine(folder, "graph.png"), 160 + 70 * (config.Heads + 1), 140 + 90 * (config.Layers + 2));
        string html = Path.Combine(folder, "index.html");
        File.WriteAllText(html, Html(ranked, exact, title, shown.Count));
        return html;
    }

    // Where a component sits: x a head's index or the MLP's column (after the heads), y its layer (an MLP half a layer
    // up), the embedding below layer 0 and the logits above the last; a key or value head in the middle of the query
    // heads that share it.
    private static (double X, double Y) Place(Component c, ModelConfig config) => c.Kind switch
    {
        ComponentKind.Embedding => ((config.Heads - 1) / 2.0, -1),
        ComponentKind.Logits => ((config.Heads - 1) / 2.0, config.Layers),
        ComponentKind.Mlp => (config.Heads, c.Layer + 0.5),
        ComponentKind.Key or ComponentKind.Value => (c.Index * (config.Heads / config.KvHeads) + (config.Heads / config.KvHeads - 1) / 2.0, c.Layer),
        _ => (c.Index, c.Layer),
    };

    private static Plot Graph(IReadOnlyList<EdgeEstimate> edges, Func<EdgeEstimate, double> value, ModelConfig config)
    {
        int layers = config.Layers, heads = config.Heads;
        var plot = new Plot();
        double largest = edges.Select(e => Math.Abs(value(e))).DefaultIfEmpty(1).Max();
        foreach (var e in edges)
        {
            var (x1, y1) = Place(e.Sender, config);
            var (x2, y2) = Place(e.Receiver, config);
            var line = plot.Add.Line(x1, y1 + 0.15, x2, y2 - 0.15);
            double v = value(e);
            line.LineWidth = (float)(1 + 7 * Math.Abs(v) / Math.Max(largest, 1e-12));
            line.Color = (v >= 0 ? Colors.FireBrick : Colors.SteelBlue).WithAlpha(0.75);
            line.LinePattern = e.Receiver.Kind switch
            {
                ComponentKind.Key => LinePattern.Dashed,
                ComponentKind.Value => LinePattern.Dotted,
                _ => LinePattern.Solid,
            };
        }
        // Every node, so the layout reads as the model even where no edge is drawn.
        var nodes = Enumerable.Range(0, layers).SelectMany(l => Enumerable.Range(0, heads).Select(h => new Component(ComponentKind.Head, l, h))
                .Append(new Component(ComponentKind.Mlp, l)))
            .Append(new Component(ComponentKind.Embedding, 0)).Append(new Component(ComponentKind.Logits, 0)).ToList();
        foreach (var n in nodes)
        {
            var (x, y) = Place(n, config);
            var marker = plot.Add.Marker(x, y, n.Kind == ComponentKind.Head ? MarkerShape.FilledCircle : MarkerShape.FilledSquare, 9);
            marker.Color = Colors.DimGray;
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, heads + 1).Select(h => (double)h)],
            [.. Enumerable.Range(0, heads).Select(h => h.ToString(CultureInfo.InvariantCulture)), "MLP"]);
        plot.Axes.Left.SetTicks([-1, .. Enumerable.Range(0, layers).Select(l => (double)l), layers],
            ["embed", .. Enumerable.Range(0, layers).Select(l => l.ToString(CultureInfo.InvariantCulture)), "logits"]);
        plot.Axes.Bottom.Label.Text = "head";
        plot.Axes.Left.Label.Text = "layer";
        plot.Axes.SetLimits(-0.8, heads + 1.2, -1.6, layers + 0.6);
        plot.Title("largest edges (red raises the metric, blue lowers it; query ─, key ‐ ‐, value ···)");
        return plot;
    }

    private static string Html(IReadOnlyList<EdgeEstimate> ranked, IReadOnlyDictionary<EdgeEstimate, EdgeEffect> exact, string title, int drawn)
    {
        var rows = new StringBuilder();
        foreach (var e in ranked.Take(Math.Max(50, exact.Count)))
        {
            var x = exact.GetValueOrDefault(e);
            rows.Append("<tr><td>").Append(WebUtility.HtmlEncode(e.Sender.Id)).Append("</td><td>").Append(WebUtility.HtmlEncode(e.Receiver.Id))
                .Append("</td><td>").Append(e.Input).Append("</td><td>").Append(AttributionReport.Signed(e.Atp))
                .Append("</td><td>").Append(AttributionReport.Signed(x?.Effect)).Append("</td><td>").Append(x?.Share ?? "").Append("</td></tr>\n");
        }
        return $$"""
            <!doctype html>
            <html><head><meta charset="utf-8"><title>{{WebUtility.HtmlEncode(title)}}</title>
            <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}td,th{padding:2px 10px;text-align:right}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}</style>
            </head><body>
            <h1>{{WebUtility.HtmlEncode(title)}}</h1>
            <p>The {{drawn}} largest edges by |effect| (path patched where measured, else the edge attribution estimate).</p>
            <img src="graph.png" alt="the largest edges over the model's layers" style="max-width:100%">
            <h2>Edges by |estimate|</h2>
            <table><tr><th>sender</th><th>receiver</th><th>input</th><th>estimate</th><th>path patching</th><th>share of gap</th></tr>
            {{rows}}</table>
            <p>All {{ranked.Count}} edges: <a href="edges.json">edges.json</a>.</p>
            </body></html>
            """;
    }
}
