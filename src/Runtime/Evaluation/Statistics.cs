namespace CircuitDsl.Runtime.Evaluation;

/// <summary>Rank statistics used to compare estimators.</summary>
public static class Statistics
{
    /// <summary>Spearman's ρ (Pearson correlation of average ranks); NaN when either side is constant.</summary>
    public static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        RequirePaired(a.Count, b.Count);
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average();
        double cov = 0, va = 0, vb = 0;
        for (int i = 0; i < ra.Length; i++)
        {
            cov += (ra[i] - ma) * (rb[i] - mb);
            va += (ra[i] - ma) * (ra[i] - ma);
            vb += (rb[i] - mb) * (rb[i] - mb);
        }
        return va == 0 || vb == 0 ? double.NaN : cov / Math.Sqrt(va * vb);
    }

    /// <summary>AUROC by the Mann–Whitney statistic (ties count half); NaN when a class is empty.</summary>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        RequirePaired(scores.Count, labels.Count);
        var ranks = Ranks(scores);
        int positives = labels.Count(x => x), negatives = labels.Count - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        double rankSum = ranks.Where((_, i) => labels[i]).Sum();
        return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <summary>Median; NaN for an empty sequence.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Throws unless two samples pair up element by element (a length mismatch would score a prefix or nothing).</summary>
    public static void RequirePaired(int count, int otherCount)
    {
        if (count != otherCount) throw new ArgumentException($"The two samples must pair up one to one; got {count} and {otherCount} values.");
    }

    /// <summary>1-based average ranks.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]]) j++;
            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = rank;
            i = j + 1;
        }
        return ranks;
    }
}
