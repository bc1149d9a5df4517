using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Loading;

/// <summary>
/// Maps a family's Hugging Face tensor names onto our parameter names (<c>layers.{i}.attn.q_proj.weight</c>, …),
/// transposing GPT-2's Conv1D weights and splitting fused q/k/v projections on the way.
/// </summary>
public static partial class HfWeightMap
{
    /// <summary>Converts checkpoint tensors to model parameters. Tensors that are buffers, not parameters, are
    /// ignored; any other unknown tensor is an error naming it.</summary>
    public static Dictionary<string, Tensor> ToParameters(ModelConfig c, IEnumerable<(string Name, Func<Tensor> Load)> tensors, string file)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, load) in tensors)
        {
            if (IsBuffer(name)) continue;
            bool handled = c.Family switch
            {
                ModelFamily.Gpt2 => Gpt2(c, name, load, result),
                ModelFamily.GptNeoX => GptNeoX(c, name, load, result, file),
                _ => LlamaLike(c, name, load, result),
            };
            if (!handled)
                throw new ModelLoadException(file, $"unexpected tensor for a {c.Family} checkpoint; is model_type right?", name);
        }
        return result;
    }

    private static bool IsBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal)
        || name.EndsWith(".attention.bias", StringComparison.Ordinal) || name.EndsWith(".attention.masked_bias", StringComparison.Ordinal)
        || name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);

    private static bool Gpt2(ModelConfig c, string name, Func<Tensor> load, Dictionary<string, Tensor> p)
    {
        if (name.StartsWith("transformer.", StringComparison.Ordinal)) name = name["transformer.".Length..];
        switch (name)
        {
            case "wte.weight": p["embed"] = load(); return true;
            case "wpe.weight": p["pos_embed"] = load(); return true;
            case "ln_f.weight": p["final_norm.weight"] = load(); return true;
            case "ln_f.bias": p["final_norm.bias"] = load(); return true;
            case "lm_head.weight": return true; // tied to wte
        }
        var m = Gpt2Layer().Match(name);
        if (!m.Success) return false;
        string layer = $"layers.{m.Groups[1].Value}.";
        string module = m.Groups[2].Value, kind = m.Groups[3].Value;
        // Conv1D stores [in, out]: transpose weights to the nn.Linear [out, in] convention.
        Tensor Value() => kind == "weight" && module is "attn.c_attn" or "attn.c_proj" or "mlp.c_fc" or "mlp.c_proj" ? load().t().contiguous() : load();
        switch (module)
        {
            case "ln_1": p[layer + "attn_norm." + kind] = load(); return true;
            case "ln_2": p[layer + "mlp_norm." + kind] = load(); return true;
            case "attn.c_attn":
                var parts = Value().chunk(3, 0);
                p[layer + "attn.q_proj." + kind] = parts[0];
                p[layer + "attn.k_proj." + kind] = parts[1];
                p[layer + "attn.v_proj." + kind] = parts[2];
                return true;
            case "attn.c_proj": p[layer + "attn.o_proj." + kind] = Value(); return true;
            case "mlp.c_fc": p[layer + "mlp.up_proj." + kind] = Value(); return true;
            case "mlp.c_proj": p[layer + "mlp.down_proj." + kind] = Value(); return true;
            default: return false;
        }
    }

    private static bool GptNeoX(ModelConfig c, string name, Func<Tensor> load, Dictionary<string, Tensor> p, string file)
    {
        switch (name)
        {
            case "gpt_neox.embed_in.weight": p["embed"] = load(); return true;
            case "gpt_neox.final_layer_norm.weight": p["final_norm.weight"] = load(); return true;
            case "gpt_neox.final_layer_norm.bias": p["final_norm.bias"] = load(); return true;
            case "embed_out.weight": p["unembed"] = load(); return true;
        }
        var m = NeoXLayer().Match(name);
        if (!m.Success) return false;
        string layer = $"layers.{m.Groups[1].Value}.";
        string module = m.Groups[2].Value, kind = m.Groups[3].Value;
        switch (module)
        {
            case "input_layernorm": p[layer + "attn_norm." + kind] = load(); return true;
            case "post_attention_layernorm": p[layer + "mlp_norm." + kind] = load(); return true;
            case "attention.query_key_value":
                // Fused per head: output viewed as [heads, 3, head_dim] — q, k, v interleaved per head.
                var fused = load();
                long expected = 3L * c.Heads * c.HeadDim;
                if (fused.shape[0] != expected)
                    throw new ModelLoadException(file, $"expected {expected} rows, found {fused.shape[0]}.", name);
                var perHead = kind == "weight" ? fused.view(c.Heads, 3, c.HeadDim, c.Hidden) : fused.view(c.Heads, 3, c.HeadDim);
                string[] targets = ["q_proj", "k_proj", "v_proj"];
                for (int i = 0; i < 3; i++)
                {
                    var part = perHead.select(1, i);
                    p[layer + "attn." + targets[i] + "." + kind] = (kind == "weight" ? part.reshape(c.Heads * c.HeadDim, c.Hidden) : part.reshape(c.Heads * c.HeadDim)).contiguous();
                }
                return true;
            case "attention.dense": p[layer + "attn.o_proj." + kind] = load(); return true;
            case "mlp.dense_h_to_4h": p[layer + "mlp.up_proj." + kind] = load(); return true;
            case "mlp.dense_4h_to_h": p[layer + "mlp.down_proj." + kind] = load(); return true;
            default: return false;
        }
    }

    private static bool LlamaLike(ModelConfig c, string name, Func<Tensor> load, Dictionary<string, Tensor> p)
    {
        switch (name)
        {
            case "model.embed_tokens.weight": p["embed"] = load(); return true;
            case "model.norm.weight": p["final_norm.weight"] = load(); return true;
            case "lm_head.weight":
                if (!c.TiedEmbeddings) p["unembed"] = load();
                return true;
        }
        var m = LlamaLayer().Match(name);
        if (!m.Success) return false;
        string layer = $"layers.{m.Groups[1].Value}.";
        string module = m.Groups[2].Value, kind = m.Groups[3].Value;
        string? target = module switch
        {
            "input_layernorm" => "attn_norm",
            // Gemma-2 has four norms per layer; the others call their pre-MLP norm post_attention_layernorm.
            "post_attention_layernorm" => c.PostNorms ? "post_attn_norm" : "mlp_norm",
            "pre_feedforward_layernorm" when c.PostNorms => "mlp_norm",
            "post_feedforward_layernorm" when c.PostNorms => "post_mlp_norm",
            "self_attn.q_proj" => "attn.q_proj",
            "self_attn.k_proj" => "attn.k_proj",
            "self_attn.v_proj" => "attn.v_proj",
            "self_attn.o_proj" => "attn.o_proj",
            "mlp.gate_proj" => "mlp.gate_proj",
            "mlp.up_proj" => "mlp.up_proj",
            "mlp.down_proj" => "mlp.down_proj",
            _ => null,
        };
        if (target is null) return false;
        p[layer + target + "." + kind] = load();
        return true;
    }

    [GeneratedRegex(@"^h\.(\d+)\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias)$")]
    private static partial Regex Gpt2Layer();

    [GeneratedRegex(@"^gpt_neox\.layers\.(\d+)\.([a-z_.0-9]+)\.(weight|bias)$")]
    private static partial Regex NeoXLayer();

    [GeneratedRegex(@"^model\.layers\.(\d+)\.([a-z_.]+)\.(weight|bias)$")]
    private static partial Regex LlamaLayer();
}
