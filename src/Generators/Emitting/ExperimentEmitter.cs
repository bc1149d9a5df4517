using System.Linq;
using CircuitDsl.Generators.Model;

namespace CircuitDsl.Generators.Emitting;

/// <summary>Emits an experiment's plan and, when the runtime is referenced, its one-call runner and typed result.</summary>
internal static class ExperimentEmitter
{
    private static readonly string[] Methods = ["ScreenFlagFix", "Patching", "Atp", "Hvp", "MsHvp", "Ig", "AtpStar", "Gim"];
    private static readonly string[] Metrics = ["LogitDifference", "ProbabilityDifference", "LogProbability", "KlDivergence"];
    private static readonly string[] Perturbations = ["SwapSlot", "RandomTokens", "Function"];
    private static readonly string[] Fixes = ["Patching", "SecondOrder"];

    public static string Emit(ExperimentSpec e, CircuitSpec circuit, bool hasRuntime)
    {
        var w = new CodeWriter(e.Namespace);
        w.Line(CodeWriter.GeneratedCode);
        w.Open($"partial class {e.ClassName}");
        w.Line("/// <summary>The experiment as data: circuit, perturbation, method and thresholds.</summary>");
        w.Line("public static global::CircuitDsl.ExperimentPlan Plan { get; } = new(");
        w.Line($"    name: {CodeWriter.Literal(e.ClassName)},");
        w.Line($"    circuit: {circuit.FullName}.CircuitName,");
        w.Line($"    model: {circuit.FullName}.Model,");
        w.Line($"    groups: {circuit.FullName}.Groups,");
        w.Line($"    template: {CodeWriter.Literal(e.Template)},");
        w.Line("    slots: new global::System.Collections.Generic.KeyValuePair<string, string[]>[]");
        w.Line("    {");
        foreach (var s in e.Slots)
            w.Line($"        new({CodeWriter.Literal(s.Name)}, new[] {{ {string.Join(", ", s.Values.Select(CodeWriter.Literal))} }}),");
        w.Line("    },");
        w.Line($"    answerSlot: {CodeWriter.Literal(e.AnswerSlot)},");
        w.Line($"    wrongSlot: {CodeWriter.Literal(e.WrongSlot)},");
        w.Line($"    perturbation: global::CircuitDsl.PerturbationKind.{Perturbations[e.Perturbation is >= 0 and < 3 ? e.Perturbation : 0]},");
        w.Line($"    swapSlot: {CodeWriter.Literal(e.SwapSlot)},");
        w.Line($"    swapWith: {CodeWriter.Literal(e.SwapWith)},");
        w.Line($"    randomPositions: new int[] {{ {string.Join(", ", e.RandomPositions)} }},");
        w.Line($"    corrupt: {(e.CorruptMethod.Length > 0 ? e.CorruptMethod : "null")},");
        w.Line($"    method: global::CircuitDsl.Estimator.{Methods[e.Method is >= 0 and < 8 ? e.Method : 0]},");
        w.Line($"    compareWithPatching: {CodeWriter.Literal(e.CompareWithPatching)},");
        w.Line($"    tau: {CodeWriter.Literal(e.Tau)},");
        w.Line($"    k: {e.K},");
        w.Line($"    igSteps: {e.IgSteps},");
        w.Line($"    pairs: {e.Pairs},");
        w.Line($"    seed: {e.Seed},");
        w.Line($"    answerPrefix: {CodeWriter.Literal(e.AnswerPrefix)},");
        w.Line($"    edges: {circuit.FullName}.Edges,");
        w.Line($"    metric: global::CircuitDsl.Metric.{Metrics[e.Metric >= 0 && e.Metric < Metrics.Length ? e.Metric : 0]},");
        w.Line($"    answerSets: {(e.AnswerSetsMethod.Length > 0 ? e.AnswerSetsMethod : "null")},");
        w.Line($"    fix: global::CircuitDsl.FixBy.{Fixes[e.Fix >= 0 && e.Fix < Fixes.Length ? e.Fix : 0]});");
        if (hasRuntime)
        {
            w.Line();
            w.Line("/// <summary>Runs the experiment on <paramref name=\"model\"/> (which must have the compiled-against shape).</summary>");
            w.Line("public static Result Run(global::CircuitDsl.Runtime.Models.HookedTransformer model, global::CircuitDsl.Runtime.Tokenizers.ITextTokenizer tokenizer,");
            w.Line("    global::System.IProgress<global::CircuitDsl.Runtime.Attribution.AttributionProgress>? progress = null) =>");
            w.Line("    new(global::CircuitDsl.Runtime.Experiments.ExperimentRunner.Run(model, tokenizer, Plan, progress),");
            w.Line("        () => global::CircuitDsl.Runtime.Experiments.ExperimentRunner.Edges(model, tokenizer, Plan));");
            w.Line();
            w.Line($"/// <summary>The engine's estimates for the components of {circuit.ClassName}, one property per group, and its edges' effects.</summary>");
            w.Line(CodeWriter.GeneratedCode);
            w.Open("public sealed class Result");
            w.Line("private readonly global::System.Lazy<global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.Runtime.Evaluation.EdgeEffect>> _edges;");
            w.Line();
            w.Line("/// <summary>Wraps the engine's result; the edges are measured when first read.</summary>");
            w.Line("public Result(global::CircuitDsl.Runtime.Attribution.AttributionResult attribution,");
            w.Open("    global::System.Func<global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.Runtime.Evaluation.EdgeEffect>> edges)");
            w.Line("Attribution = attribution;");
            w.Line("_edges = new(edges);");
            w.Close();
            w.Line();
            w.Line("/// <summary>Every estimate, flag and bound, for the declared components only.</summary>");
            w.Line("public global::CircuitDsl.Runtime.Attribution.AttributionResult Attribution { get; }");
            w.Line();
            w.Line("/// <summary>Each declared edge's effect by path patching on the experiment's pairs (measured on first read).</summary>");
            w.Line("public global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.Runtime.Evaluation.EdgeEffect> Edges => _edges.Value;");
            int i = 0;
            foreach (var g in circuit.Groups)
            {
                w.Line();
                w.Line($"/// <summary>Estimates for group {g.Property}.</summary>");
                w.Line($"public global::System.Collections.Generic.IReadOnlyList<global::CircuitDsl.Runtime.Attribution.ComponentEstimate> {g.Property} => Attribution.Group({circuit.FullName}.Groups[{i++}]);");
            }
            w.Close();
        }
        w.Close();
        return w.ToString();
    }
}
