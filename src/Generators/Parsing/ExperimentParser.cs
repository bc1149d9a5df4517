using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using CircuitDsl.Generators.Diagnostics;
using CircuitDsl.Generators.Model;
using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Parsing;

/// <summary>[Experiment] class → <see cref="ExperimentSpec"/>, with every check that needs only the class itself.</summary>
internal static class ExperimentParser
{
    public const string AttributeName = "CircuitDsl.ExperimentAttribute";
    public const int SwapSlot = 0, RandomTokens = 1, Function = 2, None = -1;

    /// <summary>CircuitDsl.Metric.LogProbability, which reads no wrong token, and KlDivergence, which reads no token alone.</summary>
    public const int LogProbability = 2, KlDivergence = 3;

    /// <summary>CircuitDsl.Estimator.ScreenFlagFix, the only method <c>Fix</c> applies to, and CircuitDsl.FixBy.SecondOrder.</summary>
    public const int ScreenFlagFix = 0, SecondOrderFix = 1;

    public static ExperimentSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (!SymbolText.TryStart(context, out var type, out var attribute, out var location, out var diagnostics)) return null;

        string circuit = SymbolText.ReferencedType(attribute, CircuitParser.AttributeName, "[Circuit]", "YourCircuit", diagnostics);

        double tau = SymbolText.Named(attribute, "Tau", 1.0 / 3);
        int metric = SymbolText.Named(attribute, "Metric", 0);
        int k = SymbolText.Named(attribute, "K", 5), igSteps = SymbolText.Named(attribute, "IgSteps", 32), pairs = SymbolText.Named(attribute, "Pairs", 16);
        int method = SymbolText.Named(attribute, "Method", 0), fix = SymbolText.Named(attribute, "Fix", 0);
        void Range(string name, string value, bool ok, string rule)
        {
            if (!ok) diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.OutOfRange, SymbolText.NamedLocation(attribute, name), name, value, rule));
        }
        Range("Tau", tau.ToString("R", System.Globalization.CultureInfo.InvariantCulture), tau > 0 && tau < 1, "τ is a threshold on R̃ ∈ [0, 1): use 0 < τ < 1");
        Range("K", k.ToString(System.Globalization.CultureInfo.InvariantCulture), k >= 1 && k <= 64, "MS-HVP sub-steps: 1..64");
        Range("IgSteps", igSteps.ToString(System.Globalization.CultureInfo.InvariantCulture), igSteps >= 2 && igSteps <= 1024, "IG grid points: 2..1024");
        Range("Pairs", pairs.ToString(System.Globalization.CultureInfo.InvariantCulture), pairs >= 1 && pairs <= 100000, "prompt pairs: 1..100000");
        Range("Fix", fix == SecondOrderFix ? "FixBy.SecondOrder" : fix.ToString(System.Globalization.CultureInfo.InvariantCulture), fix == 0 || method == ScreenFlagFix,
            "Fix applies to Method = Estimator.ScreenFlagFix (the default) only; drop it or use that method");

        var attributes = type.GetAttributes();
        AttributeData? Find(string name) => attributes.FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "CircuitDsl." + name);
        var template = Find("TemplateAttribute");
        string text = template is null ? "" : SymbolText.ConstructorValues(template).FirstOrDefault() as string ?? "";
        string answer = template is null ? "" : SymbolText.Named(template, "Answer", ""), wrong = template is null ? "" : SymbolText.Named(template, "Wrong", "");
        var answerSets = Find("AnswerSetsAttribute");
        string answerSetsMethod = answerSets is null ? "" : SymbolText.ConstructorValues(answerSets).FirstOrDefault() as string ?? "";
        var slots = attributes.Where(a => a.AttributeClass?.ToDisplayString() == "CircuitDsl.SlotAttribute").Select(a =>
        {
            var v = SymbolText.ConstructorValues(a);
            return (Attribute: a, Spec: new SlotSpec(v.FirstOrDefault() as string ?? "", new EquatableArray<string>(v.Skip(1).Select(x => x as string ?? "").ToArray())));
        }).ToList();
        var declared = new HashSet<string>(slots.Select(s => s.Spec.Name));

        if (template is null)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Perturbation, location, type.Name, "has no [Template(\"…\")]: declare the clean prompt"));
        else
        {
            var used = new HashSet<string>(Regex.Matches(text, @"\{(\w+)\}").Cast<Match>().Select(m => m.Groups[1].Value));
            foreach (var slot in used.Where(s => !declared.Contains(s)))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredSlot, SymbolText.ArgumentLocation(template, 0), slot, "used in the template but has no [Slot(\"" + slot + "\", …)] values"));
            foreach (var (name, value) in new[] { ("Answer", answer), ("Wrong", wrong) })
                if ((value.Length == 0 && !Optional(name, metric) && answerSets is null) || (value.Length > 0 && !declared.Contains(value)))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredSlot, SymbolText.NamedLocation(template, name), value.Length == 0 ? "(none)" : value,
                        $"named as {name} but not declared with [Slot]"));
            foreach (var slot in slots.Where(s => s.Spec.Values.Count == 0))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredSlot, SymbolText.ArgumentLocation(slot.Attribute, 0), slot.Spec.Name, "declared with no values"));
        }

        var swap = Find("SwapSlotAttribute");
        var random = Find("RandomTokensAttribute");
        var function = Find("CorruptWithAttribute");
        int count = (swap is null ? 0 : 1) + (random is null ? 0 : 1) + (function is null ? 0 : 1);
        int perturbation = swap is not null ? SwapSlot : random is not null ? RandomTokens : function is not null ? Function : None;
        if (count != 1)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Perturbation, location, type.Name,
                count == 0 ? "has no perturbation: add [SwapSlot], [RandomTokens] or [CorruptWith]" : "declares more than one perturbation; keep one"));
        string swapSlot = "", swapWith = "", corrupt = "";
        if (swap is not null)
        {
            swapSlot = SymbolText.ConstructorValues(swap).FirstOrDefault() as string ?? "";
            swapWith = SymbolText.Named(swap, "With", "");
            if (!declared.Contains(swapSlot))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredSlot, SymbolText.ArgumentLocation(swap, 0), swapSlot, "swapped but not declared with [Slot]"));
            if (!declared.Contains(swapWith))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UndeclaredSlot, SymbolText.NamedLocation(swap, "With"), swapWith.Length == 0 ? "(none)" : swapWith,
                    "named by With but not declared with [Slot]; write [SwapSlot(\"S\", With = \"IO\")]"));
        }
        var positions = random is null ? ImmutableArray<int>.Empty : SymbolText.ConstructorValues(random).OfType<int>().ToImmutableArray();
        if (random is not null && (positions.Length == 0 || positions.Any(p => p < 0)))
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Perturbation, SymbolText.ArgumentLocation(random, 0), type.Name, "randomises no valid position: give positions ≥ 0"));
        if (function is not null)
        {
            corrupt = SymbolText.ConstructorValues(function).FirstOrDefault() as string ?? "";
            bool ok = type.GetMembers(corrupt).OfType<IMethodSymbol>().Any(m => m.IsStatic && m.ReturnType.SpecialType == SpecialType.System_String
                && m.Parameters.Length == 2 && m.Parameters[0].Type.SpecialType == SpecialType.System_String && m.Parameters[1].Type.ToDisplayString() == "System.Random");
            if (!ok)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.Perturbation, SymbolText.ArgumentLocation(function, 0), type.Name,
                    $"names '{corrupt}', which must be 'static string {corrupt}(string clean, System.Random random)' on the class"));
        }

        if (answerSets is not null)
        {
            bool ok = type.GetMembers(answerSetsMethod).OfType<IMethodSymbol>().Any(m => m.IsStatic && m.Parameters.Length == 1
                && m.Parameters[0].Type.ToDisplayString() == "System.Collections.Generic.IReadOnlyDictionary<string, string>"
                && m.ReturnType is INamedTypeSymbol { IsTupleType: true } tuple && tuple.TupleElements.Length == 2
                && tuple.TupleElements.All(x => x.Type is IArrayTypeSymbol { ElementType.SpecialType: SpecialType.System_String }));
            if (!ok)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.AnswerSets, SymbolText.ArgumentLocation(answerSets, 0), type.Name,
                    $"names '{answerSetsMethod}', which must be 'static (string[] Answers, string[] Wrongs) {answerSetsMethod}(IReadOnlyDictionary<string, string> slots)' on the class"));
            if (answer.Length > 0 || wrong.Length > 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.AnswerSets, SymbolText.ArgumentLocation(answerSets, 0), type.Name,
                    "declares both [AnswerSets] and the template's Answer/Wrong slots; keep one"));
        }

        return new ExperimentSpec(SymbolText.Namespace(type), type.Name, SymbolText.FullName(type), circuit, location,
            method, SymbolText.Named(attribute, "CompareWithPatching", true), tau, k, igSteps, pairs,
            SymbolText.Named(attribute, "Seed", 0), text, answer, wrong, new EquatableArray<SlotSpec>(slots.Select(s => s.Spec).ToArray()),
            perturbation, swapSlot, swapWith, new EquatableArray<int>(positions.ToArray()), corrupt, new EquatableArray<DiagnosticInfo>(diagnostics),
            template is null ? " " : SymbolText.Named(template, "AnswerPrefix", " "), metric, answerSetsMethod, fix);
    }

    // Slots a metric does not read may be left out: Wrong under the log-probability, both under the KL divergence.
    private static bool Optional(string slot, int metric) => metric == KlDivergence || (slot == "Wrong" && metric == LogProbability);
}
