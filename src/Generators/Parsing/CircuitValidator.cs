using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;

namespace CircuitDsl.Generators.Parsing;

/// <summary>A circuit checked against its model's shape.</summary>
internal sealed record ValidatedCircuit(CircuitSpec Circuit, ShapeSpec? Shape, EquatableArray<DiagnosticInfo> Diagnostics)
{
    public bool IsValid => Shape is not null && Diagnostics.Count == 0;
}

/// <summary>Range, availability, duplicate and causal-order checks that need the model's shape.</summary>
internal static class CircuitValidator
{
    public static ValidatedCircuit Validate(CircuitSpec circuit, ImmutableArray<ResolvedModel> models)
    {
        var diagnostics = circuit.Diagnostics.ToList();
        var model = models.FirstOrDefault(m => m.Binding.FullName == circuit.ModelFullName);
        var shape = model?.Shape;
        if (shape is null) return new ValidatedCircuit(circuit, null, new EquatableArray<DiagnosticInfo>(diagnostics));

        var seen = new Dictionary<(int, int, int, int), string>();
        foreach (var group in circuit.Groups)
            foreach (var c in group.Components)
            {
                string? problem = Range(c, shape);
                if (problem is not null)
                {
                    var descriptor = problem.StartsWith("attention-only") ? DiagnosticDescriptors.SiteNotAvailable : DiagnosticDescriptors.ComponentOutOfRange;
                    diagnostics.Add(DiagnosticInfo.Create(descriptor, c.Location, c.Written, problem));
                    continue;
                }
                var key = (c.Kind, c.Layer, c.Index, c.Position);
                if (seen.TryGetValue(key, out var other))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateComponent, c.Location, c.Written, circuit.DisplayName, other));
                else
                    seen[key] = group.Property;
            }

        foreach (var edge in circuit.Edges)
        {
            if (edge.Receiver == Embedding || edge.Sender == Logits)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EdgeAgainstCausalOrder, edge.Location, edge.Sender, edge.Receiver,
                    edge.Receiver == Embedding ? "the embedding comes before everything, so it only sends" : "the logits come after everything, so they only receive"));
                continue;
            }
            // The embedding (null sender) writes before every group and the logits (null receiver) read after all.
            var sender = edge.Sender == Embedding ? null : circuit.Groups.FirstOrDefault(g => g.Property == edge.Sender);
            var receiver = edge.Receiver == Logits ? null : circuit.Groups.FirstOrDefault(g => g.Property == edge.Receiver);
            if ((sender is null && edge.Sender != Embedding) || (receiver is null && edge.Receiver != Logits))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EdgeAgainstCausalOrder, edge.Location, edge.Sender, edge.Receiver,
                    $"'{(sender is null && edge.Sender != Embedding ? edge.Sender : edge.Receiver)}' is not a group of this circuit (nor EdgeEnd.Embedding, which sends, or EdgeEnd.Logits, which receives)"));
                continue;
            }
            if (sender is null || receiver is null || sender.Components.Count == 0 || receiver.Components.Count == 0)
            {
                if (EdgeInputProblem(sender, receiver, edge.Via) is { } endProblem)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EdgeInput, edge.Location, edge.Sender, edge.Receiver, endProblem));
                continue;
            }
            var latestSender = sender.Components.OrderBy(Order).Last();
            var earliestReceiver = receiver.Components.OrderBy(Order).First();
            if (Order(earliestReceiver) <= Order(latestSender))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EdgeAgainstCausalOrder, edge.Location, edge.Sender, edge.Receiver,
                    $"the receiver must come after the sender, but {Describe(earliestReceiver)} does not come after {Describe(latestSender)}"));
            else if (EdgeInputProblem(sender, receiver, edge.Via) is { } problem)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EdgeInput, edge.Location, edge.Sender, edge.Receiver, problem));
        }
        return new ValidatedCircuit(circuit, shape, new EquatableArray<DiagnosticInfo>(diagnostics));
    }

    private const string Embedding = "embed", Logits = "logits";   // CircuitDsl.EdgeEnd's constants

    // What edge patching cannot measure: it sends the embedding's and heads' and MLPs' outputs into heads' queries,
    // keys or values, MLPs' inputs or the logits (Via: 0 Output, 1 Query, 2 Key, 3 Value).
    private static string? EdgeInputProblem(GroupSpec? sender, GroupSpec? receiver, int via)
    {
        foreach (var group in new[] { sender, receiver }.OfType<GroupSpec>())
            if (group.Components.FirstOrDefault(c => c.Kind is not (CircuitParser.Head or CircuitParser.Mlp)) is { } other)
                return $"edges connect whole heads and MLPs, but '{group.Property}' holds {other.Written}{(other.Kind is CircuitParser.Query or CircuitParser.Key or CircuitParser.Value ? " (patched at an input; say the input with Via instead)" : "")}";
        if (receiver is null)
            return via is 2 or 3 ? $"the logits have no {(via == 2 ? "key" : "value")} input; they take an edge at their input (leave Via at its default)" : null;
        if (via == 0 && receiver.Components.Any(c => c.Kind == CircuitParser.Head))
            return "a head takes an edge through its query, key or value: set Via to PatchAt.Query, PatchAt.Key or PatchAt.Value";
        if (via is 2 or 3 && receiver.Components.Any(c => c.Kind == CircuitParser.Mlp))
            return $"an MLP has no {(via == 2 ? "key" : "value")} input; it takes an edge at its input (leave Via at its default)";
        return null;
    }

    // Position in the forward pass: a layer's residual input, then its attention, then its MLP.
    private static int Order(ComponentSpec c) => 4 * c.Layer + c.Kind switch
    {
        CircuitParser.Residual => 0,
        CircuitParser.Mlp or CircuitParser.Neuron => 2,
        _ => 1,
    };

    private static string Describe(ComponentSpec c) => $"layer {c.Layer}'s " + c.Kind switch
    {
        CircuitParser.Residual => "residual input",
        CircuitParser.Mlp or CircuitParser.Neuron => "MLP",
        _ => "attention",
    };

    private static string? Range(ComponentSpec c, ShapeSpec shape)
    {
        if (c.Layer < 0 || c.Layer >= shape.Layers) return $"layers are 0..{shape.Layers - 1} in this {shape.Family} model";
        switch (c.Kind)
        {
            case CircuitParser.Head:
            case CircuitParser.Query:
                return c.Index >= shape.Heads ? $"heads are 0..{shape.Heads - 1} in this {shape.Family} model" : null;
            case CircuitParser.Key:
            case CircuitParser.Value:
                return c.Index >= shape.KvHeads ? $"key/value heads are 0..{shape.KvHeads - 1} in this {shape.Family} model (grouped-query attention)" : null;
            case CircuitParser.Mlp:
                return shape.AttentionOnly ? "attention-only model: it has no MLPs" : null;
            case CircuitParser.Neuron:
                if (shape.AttentionOnly) return "attention-only model: it has no MLP neurons";
                return c.Index >= shape.Neurons ? $"neurons are 0..{shape.Neurons - 1} in this {shape.Family} model" : null;
            default:
                return null;
        }
    }
}
