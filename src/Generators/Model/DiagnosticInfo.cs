using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace CircuitDsl.Generators.Model;

/// <summary>
/// An equatable stand-in for <see cref="Diagnostic"/>: a <see cref="Location"/> holds a syntax tree, which would
/// defeat incremental caching, so only the file path and span travel through the pipeline.
/// </summary>
internal sealed record DiagnosticInfo(
    DiagnosticDescriptor Descriptor, string FilePath, TextSpan Span, LinePositionSpan LineSpan, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location location, params string[] arguments)
    {
        var line = location.GetLineSpan();
        return new DiagnosticInfo(descriptor, line.Path, location.SourceSpan, line.Span, new EquatableArray<string>(arguments));
    }

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location.Create(FilePath, Span, LineSpan), Arguments.ToArray());
}
