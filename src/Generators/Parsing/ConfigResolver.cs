using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;

namespace CircuitDsl.Generators.Parsing;

/// <summary>An AdditionalFiles item that may be a config.json.</summary>
internal sealed record ConfigFile(string Path, string Text);

/// <summary>Reads a model binding's shape from its config.json: the keys each family's HF config uses.</summary>
internal static class ConfigResolver
{
    public static ResolvedModel Resolve(ModelBindingSpec binding, ImmutableArray<ConfigFile> files)
    {
        var diagnostics = binding.Diagnostics.ToList();
        if (binding.ConfigFile is not { Length: > 0 } wanted)
        {
            try
            {
                return new ResolvedModel(binding, binding.ExplicitShape is null ? null : Plausible(binding.ExplicitShape), new EquatableArray<DiagnosticInfo>(diagnostics));
            }
            catch (FormatException ex)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigInvalid, binding.Location, binding.ClassName, ex.Message));
                return new ResolvedModel(binding, null, new EquatableArray<DiagnosticInfo>(diagnostics));
            }
        }

        string suffix = Normalise(wanted);
        var file = files.FirstOrDefault(f => Normalise(f.Path) == suffix || Normalise(f.Path).EndsWith("/" + suffix.TrimStart('/'), StringComparison.Ordinal));
        if (file is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigNotFound, binding.Location, wanted));
            return new ResolvedModel(binding, null, new EquatableArray<DiagnosticInfo>(diagnostics));
        }
        try
        {
            var shape = Plausible(Shape(MiniJson.Parse(file.Text) as Dictionary<string, object?> ?? throw new FormatException("the top level is not an object")));
            return new ResolvedModel(binding, shape, new EquatableArray<DiagnosticInfo>(diagnostics));
        }
        catch (FormatException ex)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigInvalid, binding.Location, wanted, ex.Message));
            return new ResolvedModel(binding, null, new EquatableArray<DiagnosticInfo>(diagnostics));
        }
    }

    private static ShapeSpec Shape(Dictionary<string, object?> c)
    {
        string family = c.TryGetValue("model_type", out var t) && t is string s ? s : throw new FormatException("no model_type");
        int Int(string key) => c.TryGetValue(key, out var v) && v is double d && d > 0 ? (int)d : throw new FormatException($"missing or non-positive '{key}'");
        int? Opt(string key) => c.TryGetValue(key, out var v) && v is double d ? (int)d : null;
        bool attentionOnly = c.TryGetValue("attention_only", out var a) && a is true;
        switch (family)
        {
            case "gpt2":
                int heads = Int("n_head");
                return new ShapeSpec(family, Int("n_layer"), heads, heads, Opt("n_inner") ?? 4 * Int("n_embd"), false);
            case "gpt_neox":
                int neoxHeads = Int("num_attention_heads");
                return new ShapeSpec(family, Int("num_hidden_layers"), neoxHeads, neoxHeads, Int("intermediate_size"), false);
            case "llama":
            case "qwen2":
            case "gemma2":
                int h = Int("num_attention_heads");
                return new ShapeSpec(family, Int("num_hidden_layers"), h, Opt("num_key_value_heads") ?? h,
                    attentionOnly ? Opt("intermediate_size") ?? 0 : Int("intermediate_size"), attentionOnly);
            default:
                throw new FormatException($"unknown model_type '{family}' (supported: gpt2, gpt_neox, llama, qwen2, gemma2)");
        }
    }

    /// <summary>Limits far above any real model, so a typo cannot make the site catalog enormous.</summary>
    public const int MaxLayers = 1024, MaxHeads = 1024, MaxNeurons = 1 << 20;

    private static ShapeSpec Plausible(ShapeSpec s)
    {
        if (s.Layers < 1 || s.Layers > MaxLayers) throw new FormatException($"{s.Layers} layers is implausible (1..{MaxLayers})");
        if (s.Heads < 1 || s.Heads > MaxHeads) throw new FormatException($"{s.Heads} heads is implausible (1..{MaxHeads})");
        if (s.KvHeads < 1 || s.KvHeads > s.Heads || s.Heads % s.KvHeads != 0) throw new FormatException($"{s.KvHeads} key/value heads must divide {s.Heads} heads");
        if (s.Neurons < 0 || s.Neurons > MaxNeurons) throw new FormatException($"{s.Neurons} neurons is implausible (0..{MaxNeurons})");
        return s;
    }

    private static string Normalise(string path) => path.Replace('\\', '/');
}
