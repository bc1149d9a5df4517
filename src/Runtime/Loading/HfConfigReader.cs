using System.Text.Json;

namespace CircuitDsl.Runtime.Loading;

/// <summary>Reads a Hugging Face <c>config.json</c> into a <see cref="ModelConfig"/>.</summary>
public static class HfConfigReader
{
    /// <summary>The <c>model_type</c> values this runtime implements.</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["gpt2", "gpt_neox", "llama", "qwen2", "gemma2"];

    /// <summary>Reads and interprets <paramref name="path"/>.</summary>
    public static ModelConfig Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, "config.json not found: a model folder needs config.json beside model.safetensors.");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return Parse(doc.RootElement, path);
        }
        catch (JsonException ex)
        {
            throw new ModelLoadException(path, $"invalid JSON ({ex.Message}).", inner: ex);
        }
    }

    /// <summary>Interprets an already parsed config.</summary>
    public static ModelConfig Parse(JsonElement c, string path)
    {
        string modelType = Str(c, "model_type") ?? throw new ModelLoadException(path, "no model_type field.");
        return modelType switch
        {
            "gpt2" => Gpt2(c, path),
            "gpt_neox" => GptNeoX(c, path),
            "llama" => LlamaLike(c, path, ModelFamily.Llama) with { AttentionOnly = Bool(c, "attention_only") ?? false },
            "qwen2" => LlamaLike(c, path, ModelFamily.Qwen2),
            "gemma2" => Gemma2(c, path),
            _ => throw new ModelLoadException(path, $"unknown model_type '{modelType}'; supported: {string.Join(", ", SupportedModelTypes)}."),
        };
    }

    private static ModelConfig Gpt2(JsonElement c, string path)
    {
        int hidden = Int(c, path, "n_embd");
        int heads = Int(c, path, "n_head");
        if (Bool(c, "scale_attn_by_inverse_layer_idx") == true || Bool(c, "reorder_and_upcast_attn") == true)
            throw new ModelLoadException(path, "scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported.");
        return new ModelConfig
        {
            Family = ModelFamily.Gpt2,
            VocabSize = Int(c, path, "vocab_size"),
            Hidden = hidden,
            Layers = Int(c, path, "n_layer"),
            Heads = heads,
            KvHeads = heads,
            HeadDim = hidden / heads,
            Intermediate = OptInt(c, "n_inner") ?? 4 * hidden,
            MaxPositions = OptInt(c, "n_positions") ?? 1024,
            Norm = NormKind.LayerNorm,
            NormEps = Dbl(c, "layer_norm_epsilon") ?? 1e-5,
            Act = ParseActivation(Str(c, "activation_function") ?? "gelu_new", path),
            GatedMlp = false,
            LearnedPositions = true,
            QkvBias = true,
            OutBias = true,
            MlpBias = true,
            TiedEmbeddings = true,
            BosTokenId = OptInt(c, "bos_token_id"),
            EosTokenId = OptInt(c, "eos_token_id"),
        };
    }

    private static ModelConfig GptNeoX(JsonElement c, string path)
    {
        int hidden = Int(c, path, "hidden_size");
        int heads = Int(c, path, "num_attention_heads");
        int headDim = hidden / heads;
        double pct = Dbl(c, "rotary_pct") ?? Dbl(c, "partial_rotary_factor") ?? 1.0;
        bool bias = Bool(c, "attention_bias") ?? true;
        return new ModelConfig
        {
            Family = ModelFamily.GptNeoX,
            VocabSize = Int(c, path, "vocab_size"),
            Hidden = hidden,
            Layers = Int(c, path, "num_hidden_layers"),
            Heads = heads,
            KvHeads = heads,
            HeadDim = headDim,
            Intermediate = Int(c, path, "intermediate_size"),
            MaxPositions = OptInt(c, "max_position_embeddings") ?? 2048,
            Norm = NormKind.LayerNorm,
            NormEps = Dbl(c, "layer_norm_eps") ?? 1e-5,
            Act = ParseActivation(Str(c, "hidden_act") ?? "gelu", path),
            GatedMlp = false,
            RotaryDims = (int)(headDim * pct),
            RopeTheta = Dbl(c, "rotary_emb_base") ?? Dbl(c, "rope_theta") ?? 10000,
            ParallelResidual = Bool(c, "use_parallel_residual") ?? true,
            QkvBias = bias,
            OutBias = bias,
            MlpBias = true,
            TiedEmbeddings = Bool(c, "tie_word_embeddings") ?? false,
            BosTokenId = OptInt(c, "bos_token_id"),
            EosTokenId = OptInt(c, "eos_token_id"),
        };
    }

    private static ModelConfig LlamaLike(JsonElement c, string path, ModelFamily family)
    {
        int hidden = Int(c, path, "hidden_size");
        int heads = Int(c, path, "num_attention_heads");
        int headDim = OptInt(c, "head_dim") ?? hidden / heads;
        bool qkvBias = family == ModelFamily.Qwen2 || (Bool(c, "attention_bias") ?? false);
        RejectRopeScaling(c, path);
        return new ModelConfig
        {
            Family = family,
            VocabSize = Int(c, path, "vocab_size"),
            Hidden = hidden,
            Layers = Int(c, path, "num_hidden_layers"),
            Heads = heads,
            KvHeads = OptInt(c, "num_key_value_heads") ?? heads,
            HeadDim = headDim,
            Intermediate = (Bool(c, "attention_only") ?? false) ? OptInt(c, "intermediate_size") ?? 0 : Int(c, path, "intermediate_size"),
            MaxPositions = OptInt(c, "max_position_embeddings") ?? 2048,
            Norm = NormKind.RmsNorm,
            NormEps = Dbl(c, "rms_norm_eps") ?? 1e-6,
            Act = ParseActivation(Str(c, "hidden_act") ?? "silu", path),
            GatedMlp = true,
            RotaryDims = headDim,
            RopeTheta = Dbl(c, "rope_theta") ?? 10000,
            QkvBias = qkvBias,
            OutBias = family == ModelFamily.Llama && (Bool(c, "attention_bias") ?? false),
            MlpBias = Bool(c, "mlp_bias") ?? false,
            TiedEmbeddings = Bool(c, "tie_word_embeddings") ?? false,
            // Qwen2 slides only when use_sliding_window is set; we refuse that rather than silently ignore it.
            SlidingWindow = family == ModelFamily.Qwen2 && (Bool(c, "use_sliding_window") ?? false)
                ? throw new ModelLoadException(path, "Qwen2 use_sliding_window=true is not supported.")
                : 0,
            BosTokenId = OptInt(c, "bos_token_id"),
            EosTokenId = OptInt(c, "eos_token_id"),
        };
    }

    private static ModelConfig Gemma2(JsonElement c, string path)
    {
        int hidden = Int(c, path, "hidden_size");
        int heads = Int(c, path, "num_attention_heads");
        int layers = Int(c, path, "num_hidden_layers");
        int headDim = OptInt(c, "head_dim") ?? 256;
        RejectRopeScaling(c, path);
        bool[] sliding;
        if (c.TryGetProperty("layer_types", out var types) && types.ValueKind == JsonValueKind.Array)
            sliding = types.EnumerateArray().Select(t => t.GetString() == "sliding_attention").ToArray();
        else
            sliding = Enumerable.Range(0, layers).Select(i => i % 2 == 0).ToArray();
        if (sliding.Length != layers)
            throw new ModelLoadException(path, $"layer_types has {sliding.Length} entries for {layers} layers.");
        double queryScalar = Dbl(c, "query_pre_attn_scalar") ?? headDim;
        return new ModelConfig
        {
            Family = ModelFamily.Gemma2,
            VocabSize = Int(c, path, "vocab_size"),
            Hidden = hidden,
            Layers = layers,
            Heads = heads,
            KvHeads = OptInt(c, "num_key_value_heads") ?? heads,
            HeadDim = headDim,
            Intermediate = Int(c, path, "intermediate_size"),
            MaxPositions = OptInt(c, "max_position_embeddings") ?? 8192,
            Norm = NormKind.GemmaRmsNorm,
            NormEps = Dbl(c, "rms_norm_eps") ?? 1e-6,
            Act = ParseActivation(Str(c, "hidden_activation") ?? Str(c, "hidden_act") ?? "gelu_pytorch_tanh", path),
            GatedMlp = true,
            RotaryDims = headDim,
            RopeTheta = Dbl(c, "rope_theta") ?? 10000,
            PostNorms = true,
            QkvBias = Bool(c, "attention_bias") ?? false,
            OutBias = Bool(c, "attention_bias") ?? false,
            TiedEmbeddings = true,
            // HF builds √hidden as a tensor of the activation dtype: round to float32 like it does.
            EmbeddingScale = (float)Math.Sqrt(hidden),
            AttentionScale = 1.0 / Math.Sqrt(queryScalar),
            AttentionSoftcap = Dbl(c, "attn_logit_softcapping") ?? 0,
            FinalSoftcap = Dbl(c, "final_logit_softcapping") ?? 0,
            SlidingWindow = OptInt(c, "sliding_window") ?? 4096,
            SlidingLayers = sliding,
            BosTokenId = OptInt(c, "bos_token_id"),
            EosTokenId = OptInt(c, "eos_token_id"),
        };
    }

    private static void RejectRopeScaling(JsonElement c, string path)
    {
        if (c.TryGetProperty("rope_scaling", out var s) && s.ValueKind == JsonValueKind.Object)
            throw new ModelLoadException(path, "rope_scaling is not supported yet; remove it only if the model was trained without it.");
    }

    private static Activation ParseActivation(string name, string path) => name switch
    {
        "gelu" => Activation.Gelu,
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Activation.GeluTanh,
        "silu" or "swish" => Activation.Silu,
        "relu" => Activation.Relu,
        _ => throw new ModelLoadException(path, $"unsupported activation '{name}'."),
    };

    private static string? Str(JsonElement c, string key) =>
        c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? OptInt(JsonElement c, string key) =>
        c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? (int)v.GetDouble() : null;

    private static int Int(JsonElement c, string path, string key) =>
        OptInt(c, key) is int i && i > 0 ? i : throw new ModelLoadException(path, $"missing or non-positive '{key}'.");

    private static double? Dbl(JsonElement c, string key) =>
        c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static bool? Bool(JsonElement c, string key) =>
        c.TryGetProperty(key, out var v) && (v.ValueKind is JsonValueKind.True or JsonValueKind.False) ? v.GetBoolean() : null;
}
