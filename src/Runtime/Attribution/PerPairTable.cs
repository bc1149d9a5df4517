namespace CircuitDsl.Runtime.Attribution;

/// <summary>Per-pair, per-component values of each method; NaN where not computed.</summary>
internal sealed class PerPairTable(int pairs, int components)
{
    private readonly Dictionary<string, double[,]> _values = [];

    /// <summary>A table holding existing [pair][component] arrays.</summary>
    public static PerPairTable From(IReadOnlyDictionary<string, double[][]> values, int pairs, int components)
    {
        var table = new PerPairTable(pairs, components);
        var all = Enumerable.Range(0, components).ToArray();
        foreach (var (method, rows) in values)
            for (int i = 0; i < pairs; i++) table.Set(method, i, all, rows[i]);
        return table;
    }

    public void Set(string method, int pair, IReadOnlyList<int> rows, IReadOnlyList<double> values)
    {
        if (!_values.TryGetValue(method, out var m))
        {
            m = new double[pairs, components];
            for (int i = 0; i < pairs; i++) for (int j = 0; j < components; j++) m[i, j] = double.NaN;
            _values[method] = m;
        }
        for (int j = 0; j < rows.Count; j++) m[pair, rows[j]] = values[j];
    }

    public bool Has(string method, int component) =>
        _values.TryGetValue(method, out var m) && !double.IsNaN(m[0, component]);

    public double Get(string method, int pair, int component) =>
        _values.TryGetValue(method, out var m) ? m[pair, component] : double.NaN;

    public double Mean(string method, int component) =>
        Enumerable.Range(0, pairs).Average(i => Get(method, i, component));

    public double[] Mean(string method) => [.. Enumerable.Range(0, components).Select(c => Mean(method, c))];

    /// <summary>Copies out every fully computed method as [pair][component] arrays.</summary>
    public IReadOnlyDictionary<string, double[][]> ToPerPair() =>
        _values.ToDictionary(kv => kv.Key, kv => Enumerable.Range(0, pairs).Select(i => Enumerable.Range(0, components).Select(c => kv.Value[i, c]).ToArray()).ToArray());
}
