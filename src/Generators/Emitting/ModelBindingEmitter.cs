using CircuitDsl.Generators.Model;

namespace CircuitDsl.Generators.Emitting;

/// <summary>Emits a model binding's shape and typed site catalog (<c>Model.Sites.L9.H9.Z</c>).</summary>
internal static class ModelBindingEmitter
{
    private static readonly string[] LayerSites = ["ResidPre", "AttnOut", "ResidMid", "MlpPre", "MlpPost", "MlpOut", "ResidPost"];
    private static readonly string[] HeadSites = ["AttnQ:Q", "AttnScores:Scores", "AttnPattern:Pattern", "AttnZ:Z", "AttnResult:Result"];

    public static string Emit(ModelBindingSpec binding, ShapeSpec shape)
    {
        var w = new CodeWriter(binding.Namespace);
        w.Line($"/// <summary>Shape and sites of the {shape.Family} model bound to {binding.ClassName}.</summary>");
        w.Line(CodeWriter.GeneratedCode);
        w.Open($"partial class {binding.ClassName}");
        w.Line("/// <summary>The model's shape, as read at compile time.</summary>");
        w.Line($"public static global::CircuitDsl.ModelShape Shape {{ get; }} = new({CodeWriter.Literal(shape.Family)}, {shape.Layers}, {shape.Heads}, {shape.KvHeads}, {shape.Neurons}, {CodeWriter.Literal(shape.AttentionOnly)});");
        w.Line();
        w.Line("/// <summary>Every site of the model, typed: a misspelt site or an index out of range does not compile.</summary>");
        w.Open("public static class Sites");
        for (int l = 0; l < shape.Layers; l++)
        {
            w.Line($"/// <summary>Layer {l}.</summary>");
            w.Open($"public static class L{l}");
            foreach (var site in LayerSites)
            {
                if (shape.AttentionOnly && site.StartsWith("Mlp")) continue;
                if (site == "ResidMid" && shape.Family == "gpt_neox") continue; // parallel residual
                w.Line($"/// <summary>blocks.{l} {site}.</summary>");
                w.Line($"public static readonly global::CircuitDsl.SiteRef {site} = new(global::CircuitDsl.SiteKind.{site}, {l});");
            }
            for (int h = 0; h < shape.Heads; h++)
            {
                w.Line($"/// <summary>Head {l}.{h}.</summary>");
                w.Open($"public static class H{h}");
                foreach (var pair in HeadSites)
                {
                    var parts = pair.Split(':');
                    w.Line($"/// <summary>blocks.{l} {parts[0]}, head {h}.</summary>");
                    w.Line($"public static readonly global::CircuitDsl.SiteRef {parts[1]} = new(global::CircuitDsl.SiteKind.{parts[0]}, {l}, {h});");
                }
                if (h < shape.KvHeads)
                {
                    w.Line($"/// <summary>blocks.{l} AttnK, key/value head {h}.</summary>");
                    w.Line($"public static readonly global::CircuitDsl.SiteRef K = new(global::CircuitDsl.SiteKind.AttnK, {l}, {h});");
                    w.Line($"/// <summary>blocks.{l} AttnV, key/value head {h}.</summary>");
                    w.Line($"public static readonly global::CircuitDsl.SiteRef V = new(global::CircuitDsl.SiteKind.AttnV, {l}, {h});");
                }
                w.Close();
            }
            w.Close();
        }
        w.Close();
        w.Close();
        return w.ToString();
    }
}
