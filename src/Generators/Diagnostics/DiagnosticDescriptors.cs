using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Diagnostics;

/// <summary>Every diagnostic the CircuitDsl generator reports. IDs are stable: never renumber a shipped one.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "CircuitDsl";
    private const string HelpBase = "https://github.com/circuitdsl/circuitdsl/blob/main/docs/diagnostics.md#";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());

    public static readonly DiagnosticDescriptor MustBePartial = Error("CDSL001",
        "Type must be partial", "'{0}' must be declared partial so the CircuitDsl generator can complete it");

    public static readonly DiagnosticDescriptor ConfigNotFound = Error("CDSL002",
        "Model config file not found", "No AdditionalFiles item ends with '{0}'; add <AdditionalFiles Include=\"…/{0}\" /> to the project");

    public static readonly DiagnosticDescriptor ConfigInvalid = Error("CDSL003",
        "Model config file is invalid", "'{0}' cannot be used as a model config: {1}");

    public static readonly DiagnosticDescriptor ComponentOutOfRange = Error("CDSL004",
        "Component is outside the model", "'{0}' is outside the model: {1}");

    public static readonly DiagnosticDescriptor SiteNotAvailable = Error("CDSL005",
        "Site not available in this model", "'{0}' cannot be patched here: {1}");

    public static readonly DiagnosticDescriptor MalformedComponent = Error("CDSL006",
        "Malformed component", "'{0}' is not a component: {1}");

    public static readonly DiagnosticDescriptor DuplicateComponent = Error("CDSL007",
        "Duplicate component", "'{0}' is declared more than once in circuit '{1}' (also in group '{2}')");

    public static readonly DiagnosticDescriptor UndeclaredSlot = Error("CDSL008",
        "Template slot not declared", "Slot '{0}' is {1}");

    public static readonly DiagnosticDescriptor EdgeAgainstCausalOrder = Error("CDSL009",
        "Edge against causal order", "Edge {0} → {1}: {2}");

    public static readonly DiagnosticDescriptor OutOfRange = Error("CDSL010",
        "Experiment setting out of range", "{0} = {1} is out of range: {2}");

    public static readonly DiagnosticDescriptor NotABinding = Error("CDSL011",
        "Type is not a model binding or circuit", "'{0}' is not marked {1}");

    public static readonly DiagnosticDescriptor BadGroupProperty = Error("CDSL012",
        "Group must be a partial ComponentGroup property", "'{0}' must be declared 'public partial ComponentGroup {0} {{ get; }}'");

    public static readonly DiagnosticDescriptor Perturbation = Error("CDSL013",
        "Experiment needs exactly one perturbation", "Experiment '{0}' {1}");

    public static readonly DiagnosticDescriptor EdgeInput = Error("CDSL014",
        "Edge cannot be patched", "Edge {0} → {1}: {2}");

    public static readonly DiagnosticDescriptor AnswerSets = Error("CDSL015",
        "Answer sets are not well declared", "Experiment '{0}' {1}");

    public static readonly DiagnosticDescriptor InternalError = new("CDSL099",
        "CircuitDsl generator failed", "The CircuitDsl generator failed on '{0}': {1}; please report this", Category,
        DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + "cdsl099");
}
