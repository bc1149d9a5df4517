using System.Text;
using System.Text.Json;
using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Runtime.Reporting;

/// <summary>
/// The JSON form of an <see cref="AttributionResult"/>: <c>{"model", "metric": {"kind", "clean", "corrupted"}, "warnings" (when any),
/// "components": [{"id", "layer", "head", "kind", "patching", "atp", "hvp", "mshvp", "ig", "atpstar", "gim", "r",
/// "rtilde", "flagged", "bound", …}], "evaluation", "cost"}</c>. Values not computed are omitted; NaN is null.
/// </summary>
public static class AttributionJson
{
    /// <summary>Serialises <paramref name="result"/>.</summary>
    public static string Write(AttributionResult result)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", result.Model);
            w.WriteNumber("pairs", result.Pairs);
            w.WriteStartObject("metric");
            w.WriteString("kind", result.MetricKind);
            Number(w, "clean", result.CleanMetric);
            Number(w, "corrupted", result.CorruptedMetric);
            w.WriteEndObject();
            if (result.Warnings.Count > 0)
            {
                w.WriteStartArray("warnings");
                foreach (var warning in result.Warnings) w.WriteStringValue(warning);
                w.WriteEndArray();
            }

            w.WriteStartObject("options");
            Number(w, "tau", result.Options.Tau);
            w.WriteNumber("k", result.Options.K);
            w.WriteNumber("ig_steps", result.Options.IgSteps);
            w.WriteString("screen", result.Options.Screen.ToString());
            w.WriteNumber("hutchinson_probes", result.Options.HutchinsonProbes);
            w.WriteBoolean("screen_flag_fix", result.Options.ScreenFlagFix);
            w.WriteString("fix", result.Options.Fix.ToString());
            w.WriteEndObject();

            w.WriteStartArray("components");
            foreach (var c in result.Components)
            {
                w.WriteStartObject();
                w.WriteString("id", c.Id);
                w.WriteNumber("layer", c.Component.Layer);
                if (c.Component.Kind is ComponentKind.Head or ComponentKind.Query or ComponentKind.Key or ComponentKind.Value)
                    w.WriteNumber("head", c.Component.Index);
                if (c.Component.Kind == ComponentKind.Neuron) w.WriteNumber("neuron", c.Component.Index);
                if (c.Component.Kind == ComponentKind.Residual) w.WriteNumber("position", c.Component.Index);
                else if (c.Component.Position is int p) w.WriteNumber("position", p);
                w.WriteString("kind", c.Component.Kind.ToString().ToLowerInvariant());
                Number(w, "patching", c.Patching);
                Number(w, "atp", c.Atp);
                Number(w, "hvp", c.Hvp);
                Number(w, "mshvp", c.MsHvp);
                Number(w, "ig", c.Ig);
                Number(w, "atpstar", c.AtpStar);
                Number(w, "gim", c.Gim);
                Number(w, "curvature", c.Curvature);
                Number(w, "screened_curvature", c.ScreenedCurvature);
                Number(w, "local_curvature", c.LocalCurvature);
                Number(w, "local_share", c.LocalShare);
                Number(w, "r", c.R);
                Number(w, "rtilde", c.RTilde);
                w.WriteBoolean("flagged", c.Flagged);
                Number(w, "estimate", c.Estimate);
                w.WriteString("estimate_method", c.EstimateMethod);
                Number(w, "bound", c.Bound);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            if (result.Evaluation is { } e)
            {
                w.WriteStartObject("evaluation");
                w.WriteNumber("top_k", e.TopK);
                w.WriteStartObject("methods");
                foreach (var m in e.Methods)
                {
                    w.WriteStartObject(m.Method);
                    Number(w, "top_k_overlap", m.TopKOverlap);
                    Number(w, "spearman", m.Spearman);
                    Number(w, "mean_abs_error", m.MeanAbsError);
                    Number(w, "median_abs_error", m.MedianAbsError);
                    Number(w, "error_reduction_vs_atp", m.ErrorReductionVsAtp);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteStartObject("auroc_atp_relative_error_over_50pct");
                foreach (var s in e.Screens) Number(w, s.Score, s.Auroc);
                w.WriteEndObject();
                Number(w, "bound_coverage", e.BoundCoverage);
                w.WriteNumber("bounded_samples", e.BoundedSamples);
                w.WriteStartArray("rtilde_by_layer");
                foreach (var v in e.RTildeByLayer) { if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); }
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteStartObject("cost");
            foreach (var (method, c) in result.Cost.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(method);
                w.WriteNumber("forwards", c.Forwards);
                w.WriteNumber("backwards", c.Backwards);
                w.WriteNumber("rows", c.Rows);
                Number(w, "seconds", c.Seconds);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is null) return;
        if (double.IsFinite(value.Value)) w.WriteNumber(name, value.Value);
        else w.WriteNull(name);
    }
}
