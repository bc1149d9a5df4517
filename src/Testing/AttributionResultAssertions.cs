using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Primitives;

namespace CircuitDsl.Testing;

/// <summary>Assertions on a whole attribution result.</summary>
public sealed class AttributionResultAssertions(AttributionResult subject)
    : ReferenceTypeAssertions<AttributionResult, AttributionResultAssertions>(subject)
{
    /// <inheritdoc />
    protected override string Identifier => "attribution result";

    /// <summary>Asserts that <paramref name="id"/> is among the top <paramref name="k"/> components by |estimate|.</summary>
    public AndConstraint<AttributionResultAssertions> RankInTop(int k, string id, string because = "", params object[] becauseArgs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var ranked = Subject.Ranked().Select(c => c.Id).ToList();
        int rank = ranked.IndexOf(id);
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(rank >= 0)
            .FailWith(Message.Text($"Expected component {id} in the top {k}{{reason}}, but the result has no such component."))
            .Then
            .ForCondition(rank >= 0 && rank < k)
            .FailWith(Message.Text($"Expected {id} in the top {k} by |estimate|{{reason}}, but it ranks {rank + 1}:{FailureTable.For(Subject, [id], k)}"));
        return new AndConstraint<AttributionResultAssertions>(this);
    }

    /// <summary>Asserts that the top-<paramref name="topK"/> components by estimate overlap those by exact patching
    /// by at least <paramref name="atLeast"/> (a fraction).</summary>
    public AndConstraint<AttributionResultAssertions> AgreeWithPatching(int topK = 5, double atLeast = 0.8, string because = "", params object[] becauseArgs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        if (atLeast is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(atLeast), atLeast, "An agreement is a fraction in [0, 1].");
        bool patched = Subject.Components.All(c => c.Patching is not null);
        double overlap = patched ? PatchingEvaluation.TopKOverlap([.. Subject.Components.Select(c => c.Estimate)], [.. Subject.Components.Select(c => c.Patching!.Value)], topK) : double.NaN;
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(patched)
            .FailWith("Expected estimates to agree with patching{reason}, but patching was not computed for every component (add Methods.Patching).")
            .Then
            .ForCondition(overlap >= atLeast)
            .FailWith(Message.Text(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Expected top-{topK} agreement with activation patching of at least {atLeast:G3}{{reason}}, but it is {overlap:G3}:{FailureTable.For(Subject)}")));
        return new AndConstraint<AttributionResultAssertions>(this);
    }
}

/// <summary>Failure messages written in full (FluentAssertions would quote ids and tables passed as arguments).</summary>
internal static class Message
{
    /// <summary>Escapes braces so FailWith prints the text as is; <c>{{reason}}</c> in the input becomes {reason}.</summary>
    public static string Text(string text) =>
        text.Replace("{reason}", "\u0001", StringComparison.Ordinal).Replace("{", "{{", StringComparison.Ordinal)
            .Replace("}", "}}", StringComparison.Ordinal).Replace("\u0001", "{reason}", StringComparison.Ordinal);
}
