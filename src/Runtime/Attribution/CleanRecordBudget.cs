namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// Admits groups of pairs to keep their clean-run records (what makes their jets at t = 0 cheaper) while the records
/// fit <see cref="AttributionOptions.CleanRecordBudget"/>: a record grows with layers × positions, and every pair keeps
/// its own for the whole run. Pairs left out are as exact, their jets slower.
/// </summary>
internal sealed class CleanRecordBudget(long bytes)
{
    private long _used, _perPair;

    /// <summary>Bytes the kept records take.</summary>
    public long Used => _used;

    /// <summary>Whether a group of <paramref name="pairs"/> pairs should record, by the largest record per pair seen so far.</summary>
    public bool Admits(int pairs) => bytes > 0 && _used + pairs * _perPair <= bytes;

    /// <summary>
    /// Accounts a group's records of <paramref name="recordBytes"/> each: true when they fit and are kept; false when
    /// the caller must drop them (the group went over; later groups are admitted by what this one measured).
    /// </summary>
    public bool Keep(IReadOnlyCollection<long> recordBytes)
    {
        long total = recordBytes.Sum();
        _perPair = Math.Max(_perPair, recordBytes.Count == 0 ? 0 : recordBytes.Max());
        if (_used + total > bytes) return false;
        _used += total;
        return true;
    }
}
