namespace CircuitDsl.Runtime.Sharding;

/// <summary>What a shard splits: prompt pairs, or components (for patching and HVP of many components).</summary>
public enum ShardAxis
{
    /// <summary>Pairs j with j mod n = i.</summary>
    Pairs,
    /// <summary>Components j with j mod n = i.</summary>
    Components,
}

/// <summary>Shard <see cref="Index"/> of <see cref="Count"/>, along an axis; the partition is deterministic (j mod n).</summary>
public sealed record ShardSpec(int Index, int Count, ShardAxis Axis = ShardAxis.Pairs)
{
    /// <summary>Parses <c>i/n</c> (0-based).</summary>
    public static ShardSpec Parse(string text, ShardAxis axis = ShardAxis.Pairs)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n) || n < 1 || i < 0 || i >= n)
            throw new ArgumentException($"--shard '{text}' must be i/n with 0 ≤ i < n, e.g. 0/3.");
        return new ShardSpec(i, n, axis);
    }

    /// <summary>The original indices this shard owns out of <paramref name="total"/>.</summary>
    public int[] Owned(int total) => [.. Enumerable.Range(0, total).Where(j => j % Count == Index)];
}
