using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CircuitDsl.Generators.Parsing;

/// <summary>Small helpers for reading symbols and attribute syntax.</summary>
internal static class SymbolText
{
    /// <summary>What every parser starts from: the class, its attribute, its location, and CDSL001 when it is not partial.</summary>
    public static bool TryStart(GeneratorAttributeSyntaxContext context, out INamedTypeSymbol type, out AttributeData attribute,
        out Model.LocationInfo? location, out System.Collections.Generic.List<Model.DiagnosticInfo> diagnostics)
    {
        type = (context.TargetSymbol as INamedTypeSymbol)!;
        attribute = context.Attributes.FirstOrDefault()!;
        diagnostics = [];
        location = null;
        if (type is null || attribute is null) return false;
        location = Model.LocationInfo.From(type.Locations.Length > 0 ? type.Locations[0] : null);
        if (!IsPartial(type))
            diagnostics.Add(Model.DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.MustBePartial, location, type.Name));
        return true;
    }

    /// <summary>The type passed as <c>typeof(X)</c> to an attribute, which must carry <paramref name="requiredAttribute"/>
    /// (CDSL011 otherwise); its fully qualified name, or "" when missing.</summary>
    public static string ReferencedType(AttributeData attribute, string requiredAttribute, string shown, string example,
        System.Collections.Generic.List<Model.DiagnosticInfo> diagnostics)
    {
        if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is INamedTypeSymbol referenced)
        {
            if (!HasAttribute(referenced, requiredAttribute))
                diagnostics.Add(Model.DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.NotABinding, ArgumentLocation(attribute, 0), referenced.Name, shown));
            return FullName(referenced);
        }
        diagnostics.Add(Model.DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.NotABinding, ArgumentLocation(attribute, 0), "(missing)", $"{shown}; pass typeof({example})"));
        return "";
    }

    public static string Namespace(INamedTypeSymbol type) =>
        type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();

    public static string FullName(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

    public static bool IsPartial(INamedTypeSymbol type) =>
        type.DeclaringSyntaxReferences.Any(r => r.GetSyntax() is TypeDeclarationSyntax t && t.Modifiers.Any(SyntaxKind.PartialKeyword));

    public static bool HasAttribute(ITypeSymbol type, string metadataName) =>
        type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == metadataName);

    /// <summary>The syntax of argument <paramref name="index"/> of an attribute (constructor arguments in order; params expanded).</summary>
    public static Location? ArgumentLocation(AttributeData attribute, int index)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax syntax) return null;
        var arguments = syntax.ArgumentList?.Arguments.Where(a => a.NameEquals is null).ToList();
        if (arguments is null || arguments.Count == 0) return syntax.GetLocation();
        return arguments[System.Math.Min(index, arguments.Count - 1)].GetLocation();
    }

    /// <summary>The syntax of a named argument (<c>Tau = 2</c>), or the whole attribute.</summary>
    public static Location? NamedLocation(AttributeData attribute, string name)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax syntax) return null;
        var named = syntax.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == name);
        return (named ?? (SyntaxNode)syntax).GetLocation();
    }

    public static T Named<T>(AttributeData attribute, string name, T fallback)
    {
        foreach (var pair in attribute.NamedArguments)
            if (pair.Key == name && pair.Value.Value is T value)
                return value;
        return fallback;
    }

    /// <summary>Flattens constructor arguments, expanding params arrays; nulls where values are missing.</summary>
    public static object?[] ConstructorValues(AttributeData attribute) =>
        attribute.ConstructorArguments.SelectMany(a => a.Kind == TypedConstantKind.Array
            ? (a.IsNull ? new object?[] { null } : a.Values.Select(v => v.Value))
            : new[] { a.Value }).ToArray();
}
