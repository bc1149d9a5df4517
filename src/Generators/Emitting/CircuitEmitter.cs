using System.Linq;
using CircuitDsl.Generators.Model;

namespace CircuitDsl.Generators.Emitting;

/// <summary>Emits a circuit's group properties and its hook plan as index arrays.</summary>
internal static class CircuitEmitter
{
    private static readonly string[] Kinds = ["Head", "Mlp", "Neuron", "Residual", "Query", "Key", "Value"];
    private static readonly string[] Via = ["Output", "Query", "Key", "Value"];

    public static string Emit(CircuitSpec c)
    {
        var w = new CodeWriter(c.Namespace);
        w.Line(CodeWriter.GeneratedCode);
        w.Open($"partial class {c.ClassName}");
        w.Line("/// <summary>The circuit's display name.</summary>");
        w.Line($"public const string CircuitName = {CodeWriter.Literal(c.DisplayName)};");
        w.Line();
        w.Line("/// <summary>The shape of the model the circuit was validated against.</summary>");
        w.Line($"public static global::CircuitDsl.ModelShape Model => {c.ModelFullName}.Shape;");
        foreach (var g in c.Groups)
        {
            w.Line();
            w.Line($"private static readonly global::CircuitDsl.ComponentGroup s_{g.Property} = new({CodeWriter.Literal(g.Property)}, new global::CircuitDsl.ComponentRef[]");
            w.Line("{");
            foreach (var x in g.Components)
                w.Line($"    new(global::CircuitDsl.ComponentKind.{Kinds[x.Kind]}, {x.Layer}, {x.Index}, {x.Position}),");
            w.Line("});");
            w.Line();
            w.Line($"{g.Accessibility} partial global::CircuitDsl.ComponentGroup {g.Property} => s_{g.Property};");
        }
        w.Line();
        w.Line("/// <summary>Every group, in declaration order.</summary>");
        w.Line($"public static global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.ComponentGroup> Groups {{ get; }} = new global::CircuitDsl.ComponentGroup[] {{ {string.Join(", ", c.Groups.Select(g => "s_" + g.Property))} }};");
        w.Line();
        w.Line("/// <summary>Hypothesised edges between groups.</summary>");
        w.Line($"public static global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.CircuitEdge> Edges {{ get; }} = new global::CircuitDsl.CircuitEdge[] {{ {string.Join(", ", c.Edges.Select(e => $"new({CodeWriter.Literal(e.Sender)}, {CodeWriter.Literal(e.Receiver)}, global::CircuitDsl.PatchAt.{Via[e.Via is >= 0 and < 4 ? e.Via : 0]})"))} }};");
        var all = c.Groups.SelectMany(g => g.Components).ToList();
        w.Line();
        w.Line("// The hook plan as plain index arrays: component i patches kind ComponentKinds[i] at layer Layers[i], slice Indices[i], position Positions[i] (−1 = all).");
        w.Line($"internal static readonly int[] ComponentKinds = {{ {string.Join(", ", all.Select(x => x.Kind))} }};");
        w.Line($"internal static readonly int[] Layers = {{ {string.Join(", ", all.Select(x => x.Layer))} }};");
        w.Line($"internal static readonly int[] Indices = {{ {string.Join(", ", all.Select(x => x.Index))} }};");
        w.Line($"internal static readonly int[] Positions = {{ {string.Join(", ", all.Select(x => x.Position))} }};");
        w.Close();
        return w.ToString();
    }
}
