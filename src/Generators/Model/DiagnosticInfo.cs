using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Model;

/// <summary>
/// An equatable stand-in for <see cref="Diagnostic"/>: only the descriptor, plain location values and the message
/// arguments travel through the pipeline, so cached steps stay cached.
/// </summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor, location, new EquatableArray<string>(arguments));

    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments) =>
        Create(descriptor, LocationInfo.From(location), arguments);

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, Arguments.ToArray());
}
