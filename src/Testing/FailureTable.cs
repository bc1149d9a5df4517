using System.Globalization;
using System.Text;
using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Testing;

/// <summary>The compact table failing circuit assertions print, so a red test explains itself.</summary>
public static class FailureTable
{
    /// <summary>The given components (or the top by |estimate|) with every estimate, R̃, flag and bound, and the
    /// top-k by activation patching when it was computed.</summary>
    public static string For(AttributionResult result, IEnumerable<string>? highlight = null, int rows = 8)
    {
        var chosen = (highlight ?? []).ToHashSet();
        var shown = result.Ranked().Where(c => chosen.Contains(c.Id)).Concat(result.Ranked()).Distinct().Take(Math.Max(rows, chosen.Count)).ToList();
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("  component   patching       AtP       HVP    MS-HVP    R̃   flag   estimate ± bound (est.)");
        foreach (var c in shown)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {(chosen.Contains(c.Id) ? "*" : " ")}{c.Id,-9} {F(c.Patching)} {F(c.Atp)} {F(c.Hvp)} {F(c.MsHvp)} {(c.RTilde is double r ? r.ToString("F2", CultureInfo.InvariantCulture) : "   –")} {(c.Flagged ? "FLAG" : "    ")}  {F(c.Estimate)} ± {c.Bound?.ToString("G2", CultureInfo.InvariantCulture) ?? "–"} ({c.EstimateMethod})");
        if (result.Components.All(c => c.Patching is not null))
            sb.AppendLine("  top by activation patching: " + string.Join(", ", result.Components.OrderByDescending(c => Math.Abs(c.Patching!.Value)).Take(5).Select(c => c.Id)));
        return sb.ToString();
    }

    private static string F(double? v) => v is double d ? d.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture).PadLeft(9) : "        –";
}
