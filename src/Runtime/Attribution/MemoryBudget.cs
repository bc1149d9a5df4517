namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// Admits groups of pairs to keep something for the whole run while it fits a budget of bytes: their clean-run
/// records (<see cref="AttributionOptions.CleanRecordBudget"/>; a record grows with layers × positions) and their states
/// (<see cref="AttributionOptions.PairStateBudget"/>). What a group may not keep it does without (records: its jets are
/// as exact, slower) or rebuilds when needed (states).
/// </summary>
internal sealed class MemoryBudget(long bytes)
{
    private long _used, _perPair;

    /// <summary>Bytes kept.</summary>
    public long Used => _used;

    /// <summary>Whether a group of <paramref name="pairs"/> pairs fits, by the largest per pair seen so far.</summary>
    public bool Admits(int pairs) => bytes > 0 && _used + pairs * _perPair <= bytes;

    /// <summary>
    /// Accounts a group of <paramref name="perPair"/> bytes each: true when they fit and are kept; false when the
    /// caller must drop them (the group went over; later groups are admitted by what this one measured).
    /// </summary>
    public bool Keep(IReadOnlyCollection<long> perPair)
    {
        long total = perPair.Sum();
        _perPair = Math.Max(_perPair, perPair.Count == 0 ? 0 : perPair.Max());
        if (_used + total > bytes) return false;
        _used += total;
        return true;
    }
}
