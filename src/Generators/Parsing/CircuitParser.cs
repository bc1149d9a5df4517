using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CircuitDsl.Generators.Parsing;

/// <summary>Turns a <c>[Circuit]</c> class into an equatable <see cref="CircuitSpec"/> or a diagnostic.</summary>
internal static class CircuitParser
{
    public const string CircuitAttributeName = "CircuitDsl.CircuitAttribute";

    public static (CircuitSpec? Spec, DiagnosticInfo? Diagnostic) Parse(GeneratorAttributeSyntaxContext context)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not ClassDeclarationSyntax syntax)
            return (null, null);

        if (!syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
            return (null, DiagnosticInfo.Create(DiagnosticDescriptors.CircuitMustBePartial, syntax.Identifier.GetLocation(), type.Name));

        string? name = null;
        foreach (var attribute in context.Attributes)
        {
            if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string explicitName)
                name = explicitName;
        }

        string ns = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
        string accessibility = type.DeclaredAccessibility == Accessibility.Public ? "public" : "internal";
        return (new CircuitSpec(ns, type.Name, name ?? type.Name, accessibility), null);
    }
}
