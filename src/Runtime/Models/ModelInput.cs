using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>A batch of token ids [B, T] with an optional attention mask [B, T] (1 = token, 0 = padding).</summary>
public sealed class ModelInput
{
    /// <summary>Wraps existing tensors.</summary>
    public ModelInput(Tensor ids, Tensor? attentionMask = null)
    {
        if (ids.dim() != 2)
            throw new ArgumentException($"Token ids must be [batch, positions]; got [{string.Join(", ", ids.shape)}].", nameof(ids));
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(ids.shape))
            throw new ArgumentException($"Attention mask [{string.Join(", ", attentionMask.shape)}] must match ids [{string.Join(", ", ids.shape)}].", nameof(attentionMask));
        Ids = ids.to_type(ScalarType.Int64);
        AttentionMask = attentionMask;
    }

    /// <summary>Token ids [B, T].</summary>
    public Tensor Ids { get; }

    /// <summary>Attention mask [B, T] or null when nothing is padded.</summary>
    public Tensor? AttentionMask { get; }

    /// <summary>Batch size.</summary>
    public long Batch => Ids.shape[0];

    /// <summary>Sequence length.</summary>
    public long Positions => Ids.shape[1];

    /// <summary>One unpadded sequence.</summary>
    public static ModelInput Single(IReadOnlyList<int> ids, Device? device = null) =>
        new(tensor(ids.Select(i => (long)i).ToArray(), device: device).unsqueeze(0));

    /// <summary>
    /// Several sequences, right-padded with <paramref name="padId"/> to the longest, with a mask when lengths differ.
    /// </summary>
    public static ModelInput Batched(IReadOnlyList<IReadOnlyList<int>> sequences, int padId = 0, Device? device = null)
    {
        if (sequences.Count == 0) throw new ArgumentException("At least one sequence is needed.", nameof(sequences));
        int t = sequences.Max(s => s.Count);
        var ids = new long[sequences.Count, t];
        var mask = new long[sequences.Count, t];
        bool padded = false;
        for (int b = 0; b < sequences.Count; b++)
            for (int i = 0; i < t; i++)
            {
                bool real = i < sequences[b].Count;
                ids[b, i] = real ? sequences[b][i] : padId;
                mask[b, i] = real ? 1 : 0;
                padded |= !real;
            }
        return new ModelInput(tensor(ids, device: device), padded ? tensor(mask, device: device) : null);
    }

    /// <summary>Row <paramref name="row"/> repeated <paramref name="times"/> times.</summary>
    public ModelInput Repeat(int row, long times) =>
        new(Ids[row].unsqueeze(0).expand(times, -1), AttentionMask?[row].unsqueeze(0).expand(times, -1));

    /// <summary>The index of the last real token of each row [B].</summary>
    public Tensor LastPositions() =>
        AttentionMask is null
            ? full(Batch, Positions - 1, dtype: ScalarType.Int64, device: Ids.device)
            : AttentionMask.sum(1) - 1;
}
