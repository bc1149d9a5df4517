using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Rotary position embedding with Hugging Face's rotate_half pairing (i, i + r/2) over the first r dims of each
/// head (r = head_dim for Llama-likes, rotary_pct·head_dim for GPT-NeoX); the remaining dims pass through.
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>cos and sin tables [B, T, 1, r] for position ids [B, T], computed in float32 as HF does.</summary>
    public static (Tensor Cos, Tensor Sin) Tables(Tensor positionIds, int rotaryDims, double theta)
    {
        var exponents = arange(0, rotaryDims, 2, dtype: ScalarType.Int64, device: positionIds.device).to_type(ScalarType.Float32) / rotaryDims;
        var invFreq = 1.0f / pow(tensor((float)theta, device: positionIds.device), exponents);
        var freqs = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * invFreq; // [B, T, r/2]
        var emb = cat([freqs, freqs], -1).unsqueeze(2);                               // [B, T, 1, r]
        return (emb.cos(), emb.sin());
    }

    /// <summary>Rotates the first r dims of <paramref name="x"/> [B, T, heads, d].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin, int rotaryDims)
    {
        long d = x.shape[^1];
        var rot = rotaryDims == d ? x : x.narrow(-1, 0, rotaryDims);
        int half = rotaryDims / 2;
        var rotated = cat([-rot.narrow(-1, half, half), rot.narrow(-1, 0, half)], -1);
        var y = (rot * cos + rotated * sin).to_type(x.dtype);
        return rotaryDims == d ? y : cat([y, x.narrow(-1, rotaryDims, d - rotaryDims)], -1);
    }
}
