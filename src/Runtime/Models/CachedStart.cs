using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Where a run resumes from a clean run's cache: at layer <paramref name="Layer"/> from the residual stream entering it
/// (<paramref name="ResidPre"/>, [1 or B, T, D]), and from position <paramref name="Position"/> on. A patch at position
/// p changes nothing before p (attention is causal), so earlier positions are not recomputed: their keys and values
/// come from the clean run's <paramref name="Keys"/> and <paramref name="Values"/> (per layer, [1 or B, T, kv heads, d],
/// as hooked, before rotary). Needed only when <paramref name="Position"/> &gt; 0, which requires unpadded input.
/// </summary>
public sealed record CachedStart(int Layer, Tensor ResidPre, long Position = 0, IReadOnlyList<Tensor>? Keys = null, IReadOnlyList<Tensor>? Values = null);
