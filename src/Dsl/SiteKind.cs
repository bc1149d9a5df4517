namespace CircuitDsl;

/// <summary>
/// The activation sites of a model, in TransformerLens's vocabulary. Per-layer kinds come first, in the order the
/// forward pass reaches them; <see cref="Embed"/>, <see cref="FinalNorm"/> and <see cref="Logits"/> are global.
/// Shapes (B batch, T positions, H query heads, G key/value heads, d head width, D model width, I MLP width,
/// V vocabulary) are given per kind.
/// </summary>
public enum SiteKind
{
    /// <summary><c>resid_pre</c> [B,T,D]: residual stream entering the layer.</summary>
    ResidPre,
    /// <summary><c>attn.q</c> [B,T,H,d]: queries per head, before rotary.</summary>
    AttnQ,
    /// <summary><c>attn.k</c> [B,T,G,d]: keys per key/value head, before rotary.</summary>
    AttnK,
    /// <summary><c>attn.v</c> [B,T,G,d]: values per key/value head.</summary>
    AttnV,
    /// <summary><c>attn.scores</c> [B,H,T,T]: scaled, soft-capped, masked attention logits.</summary>
    AttnScores,
    /// <summary><c>attn.pattern</c> [B,H,T,T]: attention probabilities.</summary>
    AttnPattern,
    /// <summary><c>attn.z</c> [B,T,H,d]: per-head mixed values, before the output projection.</summary>
    AttnZ,
    /// <summary><c>attn.result</c> [B,T,H,D]: per-head contribution to the attention output (materialised only
    /// when hooked).</summary>
    AttnResult,
    /// <summary><c>attn_out</c> [B,T,D]: the attention branch as added to the residual (after Gemma's post-norm).</summary>
    AttnOut,
    /// <summary><c>resid_mid</c> [B,T,D]: residual between attention and MLP (absent with parallel residual).</summary>
    ResidMid,
    /// <summary><c>mlp.pre</c> [B,T,I]: MLP pre-activation (the gate projection in gated MLPs).</summary>
    MlpPre,
    /// <summary><c>mlp.post</c> [B,T,I]: MLP neurons after the activation (times the up projection when gated).</summary>
    MlpPost,
    /// <summary><c>mlp_out</c> [B,T,D]: the MLP branch as added to the residual.</summary>
    MlpOut,
    /// <summary><c>resid_post</c> [B,T,D]: residual stream leaving the layer.</summary>
    ResidPost,
    /// <summary><c>embed</c> [B,T,D]: the embedding fed to layer 0 (with positions and scaling).</summary>
    Embed,
    /// <summary><c>final_norm</c> [B,T,D]: output of the final norm.</summary>
    FinalNorm,
    /// <summary><c>logits</c> [B,T,V]: unembedding output (after final soft-capping).</summary>
    Logits,
}
