using System.Globalization;
using CircuitDsl.Runtime.Attribution;
using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Primitives;

namespace CircuitDsl.Testing;

/// <summary>Assertions on one component's estimates.</summary>
public sealed class ComponentEstimateAssertions(ComponentEstimate subject, AttributionResult? result = null)
    : ReferenceTypeAssertions<ComponentEstimate, ComponentEstimateAssertions>(subject)
{
    /// <inheritdoc />
    protected override string Identifier => "component " + Subject.Id;

    private string Table => result is null ? "" : FailureTable.For(result, [Subject.Id]);

    /// <summary>Asserts that AtP's estimate was flagged unreliable (R̃ ≥ τ).</summary>
    public AndConstraint<ComponentEstimateAssertions> BeFlagged(string because = "", params object[] becauseArgs)
    {
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(Subject.Flagged)
            .FailWith(Message.Text($"Expected {Subject.Id} to be flagged unreliable{{reason}}, but R̃ = {Subject.RTilde:F2} is below τ:{Table}"));
        return new AndConstraint<ComponentEstimateAssertions>(this);
    }

    /// <summary>Asserts that AtP's estimate is reliable: R̃ was computed and is below τ (not flagged).</summary>
    public AndConstraint<ComponentEstimateAssertions> BeReliable(string because = "", params object[] becauseArgs)
    {
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(Subject.RTilde is not null)
            .FailWith(Message.Text($"Expected {Subject.Id} to be reliable{{reason}}, but no reliability score was computed (run Screen–Flag–Fix)."))
            .Then
            .ForCondition(!Subject.Flagged)
            .FailWith(Message.Text($"Expected {Subject.Id} to be reliable{{reason}}, but it is flagged: R̃ = {Subject.RTilde:F2}, AtP {Subject.Atp:G4} vs corrected {Subject.Estimate:G4}:{Table}"));
        return new AndConstraint<ComponentEstimateAssertions>(this);
    }

    /// <summary>Starts an assertion on the component's effect (best estimate ± its bound).</summary>
    public EffectAssertions HaveEffect() => new(Subject, Table);
}

/// <summary>Assertions on an effect that honour its estimated error bound.</summary>
public sealed class EffectAssertions
{
    private readonly ComponentEstimate _subject;
    private readonly string _table;

    internal EffectAssertions(ComponentEstimate subject, string table)
    {
        _subject = subject;
        _table = table;
    }

    /// <summary>Asserts that the whole interval estimate ± bound lies in [<paramref name="low"/>, <paramref name="high"/>]:
    /// the claim holds even in the worst case the bound allows.</summary>
    public AndConstraint<EffectAssertions> Between(double low, double high, string because = "", params object[] becauseArgs)
    {
        double bound = _subject.Bound ?? 0;
        double lo = _subject.Estimate - bound, hi = _subject.Estimate + bound;
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(lo >= low && hi <= high)
            .FailWith(Message.Text(string.Create(CultureInfo.InvariantCulture,
                $"Expected the effect of {_subject.Id} to lie between {low:G4} and {high:G4}{{reason}}, but {_subject.Estimate:G4} ± {bound:G2} spans [{lo:G4}, {hi:G4}]:{_table}")));
        return new AndConstraint<EffectAssertions>(this);
    }
}
