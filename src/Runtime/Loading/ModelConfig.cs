namespace CircuitDsl.Runtime.Loading;

/// <summary>The transformer families the runtime implements.</summary>
public enum ModelFamily
{
    /// <summary>GPT-2 (<c>GPT2LMHeadModel</c>): learned positions, LayerNorm, Conv1D weights, gelu_new.</summary>
    Gpt2,
    /// <summary>GPT-NeoX / Pythia: fused per-head qkv, partial rotary, parallel residual.</summary>
    GptNeoX,
    /// <summary>Llama: RMSNorm, RoPE, GQA, SwiGLU.</summary>
    Llama,
    /// <summary>Qwen2: Llama with q/k/v biases.</summary>
    Qwen2,
    /// <summary>Gemma-2: scaled embeddings, (1+w) RMSNorm, post-norms, soft-capping, sliding windows.</summary>
    Gemma2,
}

/// <summary>Normalisation layer flavour.</summary>
public enum NormKind
{
    /// <summary>LayerNorm with weight and bias.</summary>
    LayerNorm,
    /// <summary>RMSNorm, <c>w · x / rms(x)</c>.</summary>
    RmsNorm,
    /// <summary>Gemma's RMSNorm, <c>(1 + w) · x / rms(x)</c>.</summary>
    GemmaRmsNorm,
}

/// <summary>MLP activation function.</summary>
public enum Activation
{
    /// <summary>Exact (erf) GELU.</summary>
    Gelu,
    /// <summary>tanh-approximate GELU (gelu_new, gelu_pytorch_tanh).</summary>
    GeluTanh,
    /// <summary>SiLU (swish).</summary>
    Silu,
    /// <summary>ReLU.</summary>
    Relu,
}

/// <summary>
/// Everything the model code needs to know about a checkpoint, independent of its family's config spelling.
/// Families differ by these flags, not by copies of code.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Architecture family.</summary>
    public required ModelFamily Family { get; init; }
    /// <summary>Vocabulary size.</summary>
    public required int VocabSize { get; init; }
    /// <summary>Residual stream width.</summary>
    public required int Hidden { get; init; }
    /// <summary>Number of decoder layers.</summary>
    public required int Layers { get; init; }
    /// <summary>Query heads per layer.</summary>
    public required int Heads { get; init; }
    /// <summary>Key/value heads per layer (GQA when fewer than <see cref="Heads"/>).</summary>
    public required int KvHeads { get; init; }
    /// <summary>Width of one head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>MLP hidden width (neurons per layer).</summary>
    public required int Intermediate { get; init; }
    /// <summary>Maximum sequence length.</summary>
    public int MaxPositions { get; init; } = 2048;
    /// <summary>Normalisation flavour.</summary>
    public NormKind Norm { get; init; } = NormKind.RmsNorm;
    /// <summary>Normalisation epsilon.</summary>
    public double NormEps { get; init; } = 1e-5;
    /// <summary>MLP activation.</summary>
    public Activation Act { get; init; } = Activation.Silu;
    /// <summary>Gated MLP (<c>down(act(gate(x)) · up(x))</c>) rather than <c>down(act(up(x)))</c>.</summary>
    public bool GatedMlp { get; init; } = true;
    /// <summary>Learned absolute position embeddings (GPT-2) instead of rotary.</summary>
    public bool LearnedPositions { get; init; }
    /// <summary>Head dimensions rotated by RoPE (0 when there is no rotary embedding).</summary>
    public int RotaryDims { get; init; }
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>Attention and MLP both read the same residual (GPT-NeoX).</summary>
    public bool ParallelResidual { get; init; }
    /// <summary>Gemma-2's norms applied to each branch output before the residual add.</summary>
    public bool PostNorms { get; init; }
    /// <summary>q/k/v projections have biases.</summary>
    public bool QkvBias { get; init; }
    /// <summary>Attention output projection has a bias.</summary>
    public bool OutBias { get; init; }
    /// <summary>MLP projections have biases.</summary>
    public bool MlpBias { get; init; }
    /// <summary>Unembedding shares the token embedding matrix.</summary>
    public bool TiedEmbeddings { get; init; }
    /// <summary>Factor the token embedding is multiplied by (Gemma: √hidden).</summary>
    public double EmbeddingScale { get; init; } = 1.0;
    /// <summary>Attention score scale; default <c>1/√head_dim</c>.</summary>
    public double AttentionScale { get; init; }
    /// <summary>Attention-logit soft-cap (0 = none).</summary>
    public double AttentionSoftcap { get; init; }
    /// <summary>Final-logit soft-cap (0 = none).</summary>
    public double FinalSoftcap { get; init; }
    /// <summary>Sliding-window width for layers that slide (0 = none).</summary>
    public int SlidingWindow { get; init; }
    /// <summary>Which layers use the sliding window; empty when none do.</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];
    /// <summary>Blocks have no MLP (toy attention-only models; key <c>attention_only</c> in config.json).</summary>
    public bool AttentionOnly { get; init; }
    /// <summary>Beginning-of-sequence token id, if known.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence token id, if known.</summary>
    public int? EosTokenId { get; init; }

    /// <summary>The attention scale actually used.</summary>
    public double EffectiveAttentionScale => AttentionScale > 0 ? AttentionScale : 1.0 / Math.Sqrt(HeadDim);

    /// <summary>True when layer <paramref name="layer"/> uses sliding-window attention.</summary>
    public bool Slides(int layer) => SlidingWindow > 0 && layer < SlidingLayers.Count && SlidingLayers[layer];
}
