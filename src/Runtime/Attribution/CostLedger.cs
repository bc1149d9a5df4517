using System.Diagnostics;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>Compute spent by one method: batched passes, rows, and wall time.</summary>
/// <param name="Forwards">Forward passes (batched calls).</param>
/// <param name="Backwards">Backward passes (a double backward counts two).</param>
/// <param name="Rows">Batch rows processed (a full-model forward of one prompt is one row).</param>
/// <param name="Seconds">Wall time.</param>
public sealed record MethodCost(long Forwards, long Backwards, long Rows, double Seconds);

/// <summary>Counts passes and time per method, so the paper's cost claims can be checked on every result.</summary>
public sealed class CostLedger
{
    private readonly Dictionary<string, MethodCost> _costs = [];

    /// <summary>Cost per method name.</summary>
    public IReadOnlyDictionary<string, MethodCost> ByMethod => _costs;

    /// <summary>Runs <paramref name="work"/>, charging its time and the given counts to <paramref name="method"/>.</summary>
    public T Measure<T>(string method, long forwards, long backwards, long rows, Func<T> work)
    {
        var watch = Stopwatch.StartNew();
        var result = work();
        Add(method, forwards, backwards, rows, watch.Elapsed.TotalSeconds);
        return result;
    }

    /// <summary>Adds counts to a method.</summary>
    public void Add(string method, long forwards, long backwards, long rows, double seconds)
    {
        _costs.TryGetValue(method, out var c);
        c ??= new MethodCost(0, 0, 0, 0);
        _costs[method] = new MethodCost(c.Forwards + forwards, c.Backwards + backwards, c.Rows + rows, c.Seconds + seconds);
    }
}
