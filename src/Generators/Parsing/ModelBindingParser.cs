using System.Collections.Generic;
using System.Threading;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Parsing;

/// <summary>[ModelBinding] class → <see cref="ModelBindingSpec"/>.</summary>
internal static class ModelBindingParser
{
    public const string AttributeName = "CircuitDsl.ModelBindingAttribute";

    public static ModelBindingSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (!SymbolText.TryStart(context, out var type, out var attribute, out var location, out var diagnostics)) return null;

        string? configFile = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string : null;
        ShapeSpec? shape = null;
        if (configFile is null)
        {
            string? family = SymbolText.Named<string?>(attribute, "Family", null);
            int layers = SymbolText.Named(attribute, "Layers", 0), heads = SymbolText.Named(attribute, "Heads", 0);
            if (family is null || layers <= 0 || heads <= 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigInvalid, SymbolText.ArgumentLocation(attribute, 0),
                    type.Name, "explicit values need Family, Layers > 0 and Heads > 0 (or pass a config.json path)"));
            else
                shape = new ShapeSpec(family, layers, heads, SymbolText.Named(attribute, "KvHeads", 0) is int kv && kv > 0 ? kv : heads,
                    SymbolText.Named(attribute, "Neurons", 0), SymbolText.Named(attribute, "AttentionOnly", false));
        }
        else if (configFile.Trim().Length == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigNotFound, SymbolText.ArgumentLocation(attribute, 0), "(empty path)"));
        }
        return new ModelBindingSpec(SymbolText.Namespace(type), type.Name, SymbolText.FullName(type), configFile, shape,
            LocationInfo.From(SymbolText.ArgumentLocation(attribute, 0)) ?? location, new EquatableArray<DiagnosticInfo>(diagnostics));
    }
}
