using CircuitDsl.Generators.Emitting;
using CircuitDsl.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CircuitDsl.Generators;

/// <summary>
/// Incremental generator for circuit hypotheses: Parser → equatable spec → Emitter. It never throws; problems in
/// user code surface as CDSL diagnostics.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class CircuitGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                CircuitParser.CircuitAttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, _) => CircuitParser.Parse(ctx))
            .WithTrackingName(TrackingNames.Circuits);

        var specs = parsed
            .Where(static r => r.Spec is not null)
            .Select(static (r, _) => r.Spec!)
            .WithTrackingName(TrackingNames.CircuitSpecs);

        context.RegisterSourceOutput(specs, static (spc, spec) =>
            spc.AddSource(CircuitEmitter.HintName(spec), CircuitEmitter.Emit(spec)));

        context.RegisterSourceOutput(parsed.Where(static r => r.Diagnostic is not null), static (spc, r) =>
            spc.ReportDiagnostic(r.Diagnostic!.ToDiagnostic()));
    }
}
