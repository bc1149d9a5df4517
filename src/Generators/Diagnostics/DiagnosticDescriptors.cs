using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Diagnostics;

/// <summary>Every diagnostic the CircuitDsl generator reports. IDs are stable: never renumber a shipped one.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "CircuitDsl";
    private const string HelpBase = "https://github.com/circuitdsl/circuitdsl/blob/main/docs/diagnostics.md#";

    public static readonly DiagnosticDescriptor CircuitMustBePartial = new(
        id: "CDSL001",
        title: "Circuit class must be partial",
        messageFormat: "Circuit class '{0}' must be declared partial so the generator can add its hook plan",
        category: Category,
        defaultSeverity: DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        helpLinkUri: HelpBase + "cdsl001");
}
