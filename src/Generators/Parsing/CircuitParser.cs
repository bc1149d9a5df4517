using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Parsing;

/// <summary>[Circuit] class → <see cref="CircuitSpec"/>: groups from annotated partial properties, edges, and the
/// syntax-level diagnostics (malformed specs); range checks need the model and happen in <see cref="CircuitValidator"/>.</summary>
internal static class CircuitParser
{
    public const string AttributeName = "CircuitDsl.CircuitAttribute";
    private const string GroupType = "CircuitDsl.ComponentGroup";

    // ComponentKind values (CircuitDsl.ComponentKind), mirrored: the generator does not reference the DSL assembly.
    public const int Head = 0, Mlp = 1, Neuron = 2, Residual = 3, Query = 4, Key = 5, Value = 6;

    public static CircuitSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (!SymbolText.TryStart(context, out var type, out var attribute, out var location, out var diagnostics)) return null;

        string model = SymbolText.ReferencedType(attribute, ModelBindingParser.AttributeName, "[ModelBinding]", "YourModel", diagnostics);

        var groups = new List<GroupSpec>();
        foreach (var member in type.GetMembers())
        {
            ct.ThrowIfCancellationRequested();
            var groupAttributes = member.GetAttributes().Where(a => a.AttributeClass?.BaseType?.ToDisplayString() == "CircuitDsl.ComponentGroupAttribute").ToList();
            if (groupAttributes.Count == 0) continue;
            if (member is not IPropertySymbol property || property.Type.ToDisplayString() != GroupType || !property.IsPartialDefinition)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.BadGroupProperty, member.Locations.FirstOrDefault(), member.Name));
                continue;
            }
            var components = new List<ComponentSpec>();
            foreach (var a in groupAttributes) components.AddRange(Components(a, diagnostics));
            string accessibility = (property.DeclaredAccessibility == Accessibility.Public ? "public" : "internal") + (property.IsStatic ? " static" : "");
            groups.Add(new GroupSpec(property.Name, accessibility, new EquatableArray<ComponentSpec>(components)));
        }

        var edges = new List<EdgeSpec>();
        foreach (var edge in type.GetAttributes().Where(a => a.AttributeClass?.ToDisplayString() == "CircuitDsl.EdgeAttribute"))
        {
            var values = SymbolText.ConstructorValues(edge);
            edges.Add(new EdgeSpec(values.ElementAtOrDefault(0) as string ?? "", values.ElementAtOrDefault(1) as string ?? "",
                SymbolText.Named(edge, "Via", 1), LocationInfo.From(edge.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation())));
        }

        string display = SymbolText.Named<string?>(attribute, "Name", null) ?? type.Name;
        return new CircuitSpec(SymbolText.Namespace(type), type.Name, SymbolText.FullName(type), display, model, location,
            new EquatableArray<GroupSpec>(groups), new EquatableArray<EdgeSpec>(edges), new EquatableArray<DiagnosticInfo>(diagnostics));
    }

    private static IEnumerable<ComponentSpec> Components(AttributeData attribute, List<DiagnosticInfo> diagnostics)
    {
        int patch = SymbolText.Named(attribute, "Patch", 0);
        int position = SymbolText.Named(attribute, "Position", -1);
        var values = SymbolText.ConstructorValues(attribute);
        LocationInfo? At(int i) => LocationInfo.From(SymbolText.ArgumentLocation(attribute, i));
        if (position < -1)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, LocationInfo.From(SymbolText.NamedLocation(attribute, "Position")),
                $"Position = {position}", "positions are ≥ 0 (or −1 for all)"));
        string name = attribute.AttributeClass?.Name ?? "";
        if (name != "HeadsAttribute" && patch != 0)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SiteNotAvailable, LocationInfo.From(SymbolText.NamedLocation(attribute, "Patch")),
                name.Replace("Attribute", ""), "only heads have query, key and value inputs; MLPs, neurons and residuals patch their output"));
        switch (name)
        {
            case "HeadsAttribute":
                int kind = patch switch { 1 => Query, 2 => Key, 3 => Value, _ => Head };
                for (int i = 0; i < values.Length; i++)
                {
                    if (TryHead(values[i] as string, out int layer, out int head, out string? problem))
                        yield return new ComponentSpec(kind, layer, head, position, (string)values[i]!, At(i));
                    else
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, At(i), values[i] as string ?? "null", problem!));
                }
                break;
            case "MlpsAttribute":
                for (int i = 0; i < values.Length; i++)
                    if (values[i] is int layer) yield return new ComponentSpec(Mlp, layer, 0, position, "MLP " + layer, At(i));
                    else diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, At(i), "null", "give MLP layers as integers"));
                break;
            case "NeuronsAttribute":
            case "ResidualAttribute":
                if (values.Length == 0 || values[0] is not int l)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, At(0), "null", "the first argument is the layer"));
                    break;
                }
                bool neuron = name == "NeuronsAttribute";
                if (values.Length < 2)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, At(0), $"layer {l}", neuron ? "list at least one neuron" : "list at least one position"));
                for (int i = 1; i < values.Length; i++)
                    if (values[i] is int index && index >= 0)
                        yield return new ComponentSpec(neuron ? Neuron : Residual, l, index, neuron ? position : -1, $"{(neuron ? "neuron" : "position")} {l}.{index}", At(i));
                    else
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedComponent, At(i), values[i]?.ToString() ?? "null", "indices are integers ≥ 0"));
                break;
        }
    }

    /// <summary>Parses <c>"layer.head"</c>.</summary>
    public static bool TryHead(string? text, out int layer, out int head, out string? problem)
    {
        layer = head = -1;
        problem = null;
        if (text is null) { problem = "write heads as \"layer.head\", e.g. \"9.9\""; return false; }
        var parts = text.Split('.');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out layer)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out head))
        {
            problem = "write heads as \"layer.head\" with non-negative integers, e.g. \"9.9\"";
            return false;
        }
        return true;
    }
}
