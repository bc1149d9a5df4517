using System;
using System.Collections.Immutable;
using System.Linq;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Emitting;
using CircuitDsl.Generators.Model;
using CircuitDsl.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CircuitDsl.Generators;

/// <summary>
/// The CircuitDsl incremental generator: model bindings (shape from config.json), circuits and experiments are parsed
/// into equatable specs, validated against each other, and emitted as plain C#. It never throws; problems in user
/// code surface as CDSL diagnostics, and internal failures as CDSL099.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class CircuitGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var bindings = context.SyntaxProvider
            .ForAttributeWithMetadataName(ModelBindingParser.AttributeName, static (n, _) => n is ClassDeclarationSyntax, static (c, ct) => Guard(() => ModelBindingParser.Parse(c, ct)))
            .WithTrackingName(TrackingNames.Bindings);

        var configs = context.AdditionalTextsProvider
            .Where(static t => t.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .Select(static (t, ct) => new ConfigFile(t.Path, t.GetText(ct)?.ToString() ?? ""))
            .Collect()
            .WithTrackingName(TrackingNames.ConfigFiles);

        var models = bindings.Where(static b => b.Value is not null).Select(static (b, _) => b.Value!)
            .Combine(configs)
            .Select(static (pair, _) => ConfigResolver.Resolve(pair.Left, pair.Right))
            .WithTrackingName(TrackingNames.Models);
        var allModels = models.Collect();

        var circuits = context.SyntaxProvider
            .ForAttributeWithMetadataName(CircuitParser.AttributeName, static (n, _) => n is ClassDeclarationSyntax, static (c, ct) => Guard(() => CircuitParser.Parse(c, ct)))
            .WithTrackingName(TrackingNames.Circuits);
        var validated = circuits.Where(static c => c.Value is not null).Select(static (c, _) => c.Value!)
            .Combine(allModels)
            .Select(static (pair, _) => CircuitValidator.Validate(pair.Left, pair.Right))
            .WithTrackingName(TrackingNames.ValidatedCircuits);

        var experiments = context.SyntaxProvider
            .ForAttributeWithMetadataName(ExperimentParser.AttributeName, static (n, _) => n is ClassDeclarationSyntax, static (c, ct) => Guard(() => ExperimentParser.Parse(c, ct)))
            .WithTrackingName(TrackingNames.Experiments);
        var hasRuntime = context.CompilationProvider
            .Select(static (c, _) => c.GetTypeByMetadataName("CircuitDsl.Runtime.Experiments.ExperimentRunner") is not null)
            .WithTrackingName(TrackingNames.HasRuntime);
        var validatedExperiments = experiments.Where(static e => e.Value is not null).Select(static (e, _) => e.Value!)
            .Combine(validated.Collect())
            .Combine(hasRuntime)
            .WithTrackingName(TrackingNames.ValidatedExperiments);

        context.RegisterSourceOutput(bindings.Where(static b => b.Error is not null), static (spc, b) => spc.ReportDiagnostic(b.Error!.ToDiagnostic()));
        context.RegisterSourceOutput(circuits.Where(static b => b.Error is not null), static (spc, b) => spc.ReportDiagnostic(b.Error!.ToDiagnostic()));
        context.RegisterSourceOutput(experiments.Where(static b => b.Error is not null), static (spc, b) => spc.ReportDiagnostic(b.Error!.ToDiagnostic()));

        context.RegisterSourceOutput(models, static (spc, model) => Emit(spc, model.Binding.ClassName, model.Diagnostics, () =>
            model.Shape is null || model.Binding.Diagnostics.Count > 0 ? null
                : (HintName(model.Binding.Namespace, model.Binding.ClassName), ModelBindingEmitter.Emit(model.Binding, model.Shape))));

        context.RegisterSourceOutput(validated, static (spc, circuit) => Emit(spc, circuit.Circuit.ClassName, circuit.Diagnostics, () =>
            !circuit.IsValid ? null : (HintName(circuit.Circuit.Namespace, circuit.Circuit.ClassName), CircuitEmitter.Emit(circuit.Circuit))));

        context.RegisterSourceOutput(validatedExperiments, static (spc, input) =>
        {
            var ((experiment, circuits), runtime) = input;
            var circuit = circuits.FirstOrDefault(c => c.Circuit.FullName == experiment.CircuitFullName);
            Emit(spc, experiment.ClassName, experiment.Diagnostics, () =>
                experiment.Diagnostics.Count > 0 || circuit is null || !circuit.IsValid ? null
                    : (HintName(experiment.Namespace, experiment.ClassName), ExperimentEmitter.Emit(experiment, circuit.Circuit, runtime)));
        });
    }

    private static string HintName(string ns, string type) => (ns.Length == 0 ? "" : ns + ".") + type + ".g.cs";

    private static void Emit(SourceProductionContext spc, string name, EquatableArray<DiagnosticInfo> diagnostics, Func<(string Hint, string Source)?> emit)
    {
        foreach (var d in diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
        try
        {
            if (emit() is { } output) spc.AddSource(output.Hint, output.Source);
        }
        catch (Exception ex)
        {
            spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, Location.None, name, ex.Message));
        }
    }

    /// <summary>A parse result or the internal error that replaced it (the generator must never throw).</summary>
    internal sealed record Parsed<T>(T? Value, DiagnosticInfo? Error) where T : class;

    private static Parsed<T> Guard<T>(Func<T?> parse) where T : class
    {
        try
        {
            return new Parsed<T>(parse(), null);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception ex)
        {
            return new Parsed<T>(null, DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, (LocationInfo?)null, typeof(T).Name, ex.Message));
        }
    }
}
