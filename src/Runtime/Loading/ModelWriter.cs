using System.Text.Json;
using System.Text.Json.Nodes;
using CircuitDsl.Runtime.Models;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Loading;

/// <summary>
/// Saves Llama-family models (our toy models) as a Hugging Face folder: config.json + model.safetensors under the
/// HF Llama tensor names, so the loader reads them like any other checkpoint.
/// </summary>
public static class ModelWriter
{
    /// <summary>Writes <paramref name="model"/> to <paramref name="folder"/>, adding <paramref name="extra"/> keys to config.json.</summary>
    public static void SaveLlama(HookedTransformer model, string folder, IReadOnlyDictionary<string, JsonNode?>? extra = null)
    {
        var c = model.Config;
        if (c.Family != ModelFamily.Llama || c.QkvBias || c.OutBias || c.MlpBias)
            throw new NotSupportedException("Only bias-free Llama-family models are saved by this writer.");
        Directory.CreateDirectory(folder);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.Hidden,
            ["intermediate_size"] = c.Intermediate,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = c.MaxPositions,
            ["rms_norm_eps"] = c.NormEps,
            ["rope_theta"] = c.RopeTheta,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["attention_only"] = c.AttentionOnly,
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_id"] = c.EosTokenId,
            ["torch_dtype"] = "float32",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, JsonNode?>()) config[key] = value?.DeepClone();
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        var tensors = model.named_parameters().ToDictionary(p => HfName(p.name), p => (Tensor)p.parameter);
        SafeTensorsFile.Write(Path.Combine(folder, "model.safetensors"), tensors);
    }

    private static string HfName(string name) => name switch
    {
        "embed" => "model.embed_tokens.weight",
        "unembed" => "lm_head.weight",
        "final_norm.weight" => "model.norm.weight",
        _ => "model." + name
            .Replace(".attn_norm.", ".input_layernorm.", StringComparison.Ordinal)
            .Replace(".mlp_norm.", ".post_attention_layernorm.", StringComparison.Ordinal)
            .Replace(".attn.", ".self_attn.", StringComparison.Ordinal),
    };
}
