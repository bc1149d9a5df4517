using Microsoft.CodeAnalysis.Text;

namespace CircuitDsl.Generators.Model;

/// <summary>Where something was written, as plain values (a Location would pin a syntax tree and break caching).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Microsoft.CodeAnalysis.Location ToLocation() => Microsoft.CodeAnalysis.Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Microsoft.CodeAnalysis.Location? location)
    {
        if (location is null || location.SourceTree is null) return null;
        var line = location.GetLineSpan();
        return new LocationInfo(line.Path, location.SourceSpan, line.Span);
    }
}

/// <summary>A model's shape as far as circuits are concerned.</summary>
internal sealed record ShapeSpec(string Family, int Layers, int Heads, int KvHeads, int Neurons, bool AttentionOnly);

/// <summary>A [ModelBinding] class.</summary>
internal sealed record ModelBindingSpec(
    string Namespace, string ClassName, string FullName, string? ConfigFile, ShapeSpec? ExplicitShape, LocationInfo? Location,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A model binding with its shape resolved from config.json (null when it could not be).</summary>
internal sealed record ResolvedModel(ModelBindingSpec Binding, ShapeSpec? Shape, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>One component as written in an attribute. Kind is CircuitDsl.ComponentKind as an int.</summary>
internal sealed record ComponentSpec(int Kind, int Layer, int Index, int Position, string Written, LocationInfo? Location);

/// <summary>A partial ComponentGroup property and its components.</summary>
internal sealed record GroupSpec(string Property, string Accessibility, EquatableArray<ComponentSpec> Components);

/// <summary>A hypothesised edge between two groups.</summary>
internal sealed record EdgeSpec(string Sender, string Receiver, int Via, LocationInfo? Location);

/// <summary>A [Circuit] class.</summary>
internal sealed record CircuitSpec(
    string Namespace, string ClassName, string FullName, string DisplayName, string ModelFullName, LocationInfo? Location,
    EquatableArray<GroupSpec> Groups, EquatableArray<EdgeSpec> Edges, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A template slot and its values.</summary>
internal sealed record SlotSpec(string Name, EquatableArray<string> Values);

/// <summary>An [Experiment] class.</summary>
internal sealed record ExperimentSpec(
    string Namespace, string ClassName, string FullName, string CircuitFullName, LocationInfo? Location,
    int Method, bool CompareWithPatching, double Tau, int K, int IgSteps, int Pairs, int Seed,
    string Template, string AnswerSlot, string WrongSlot, EquatableArray<SlotSpec> Slots,
    int Perturbation, string SwapSlot, string SwapWith, EquatableArray<int> RandomPositions, string CorruptMethod,
    EquatableArray<DiagnosticInfo> Diagnostics, string AnswerPrefix = " ", int Metric = 0, string AnswerSetsMethod = "", int Fix = 0);
