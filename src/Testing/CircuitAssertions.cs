using System.Globalization;
using System.Text;
using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Primitives;

namespace CircuitDsl.Testing;

/// <summary>Assertions on a circuit claim: faithful, minimal, complete, and carrying its declared edges.</summary>
public sealed class CircuitAssertions(CircuitUnderTest subject) : ReferenceTypeAssertions<CircuitUnderTest, CircuitAssertions>(subject)
{
    /// <inheritdoc />
    protected override string Identifier => "circuit " + Subject.Name;

    /// <summary>Asserts f(circuit) ≥ <paramref name="atLeast"/>: with everything else ablated, the circuit recovers
    /// that share of the behaviour.</summary>
    public AndConstraint<CircuitAssertions> BeFaithful(double atLeast = 0.8, string because = "", params object[] becauseArgs)
    {
        double f = Subject.Score;
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(f >= atLeast)
            .FailWith(Message.Text(string.Create(CultureInfo.InvariantCulture,
                $"Expected {Subject.Name} to be faithful to at least {atLeast:G3}{{reason}}, but f = {f:F3} (M(full) = {Subject.Faithfulness.FullMetric:F3}, M(empty) = {Subject.Faithfulness.EmptyMetric:F3}, {Subject.Faithfulness.Ablation} ablation of {Subject.Faithfulness.Universe.Count - Subject.Components.Count} other components).")));
        return new AndConstraint<CircuitAssertions>(this);
    }

    /// <summary>Asserts that every component matters: removing any one lowers faithfulness by at least
    /// <paramref name="minimumContribution"/>.</summary>
    public AndConstraint<CircuitAssertions> BeMinimal(double minimumContribution = 0.01, string because = "", params object[] becauseArgs)
    {
        double f = Subject.Score;
        var idle = Subject.Components
            .Select(c => (c.Id, Drop: f - Subject.Faithfulness.Of(Subject.Components.Where(x => x.Id != c.Id))))
            .Where(x => x.Drop < minimumContribution).ToList();
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(idle.Count == 0)
            .FailWith(Message.Text(string.Create(CultureInfo.InvariantCulture,
                $"Expected {Subject.Name} to be minimal{{reason}}, but removing these changes faithfulness by less than {minimumContribution:G3}:{Lines(idle, "removing")}")));
        return new AndConstraint<CircuitAssertions>(this);
    }

    /// <summary>Asserts that nothing important is missing: adding any one outside component raises faithfulness by
    /// less than <paramref name="tolerance"/>.</summary>
    public AndConstraint<CircuitAssertions> BeComplete(double tolerance = 0.05, string because = "", params object[] becauseArgs)
    {
        double f = Subject.Score;
        var ids = Subject.Components.Select(c => c.Id).ToHashSet();
        var missing = Subject.Faithfulness.Universe.Where(c => !ids.Contains(c.Id))
            .Select(c => (c.Id, Drop: Subject.Faithfulness.Of(Subject.Components.Append(c)) - f))
            .Where(x => x.Drop >= tolerance).OrderByDescending(x => x.Drop).ToList();
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(missing.Count == 0)
            .FailWith(Message.Text(string.Create(CultureInfo.InvariantCulture,
                $"Expected {Subject.Name} to be complete{{reason}}, but adding these raises faithfulness by {tolerance:G3} or more:{Lines(missing, "adding")}")));
        return new AndConstraint<CircuitAssertions>(this);
    }

    /// <summary>
    /// Asserts that the declared edge <paramref name="sender"/> → <paramref name="receiver"/>, alone, moves the metric
    /// at least <paramref name="atLeast"/> of the way from the clean to the corrupted run (path patching through the
    /// receivers' declared input). A failure also lists what the receivers' other inputs carry.
    /// </summary>
    public AndConstraint<CircuitAssertions> CarryEdge(string sender, string receiver, double atLeast = 0.1, string because = "", params object[] becauseArgs)
    {
        var edge = Subject.Edges.FirstOrDefault(e => e.Sender == sender && e.Receiver == receiver)
            ?? throw new ArgumentException($"{Subject.Name} declares no edge {sender} → {receiver}; it declares: {(Subject.Edges.Count == 0 ? "none" : string.Join(", ", Subject.Edges.Select(e => $"{e.Sender} → {e.Receiver}")))}.");
        var effect = Subject.EdgeEffect(sender, receiver, edge.Via);
        bool carries = effect.Fraction >= atLeast;
        // Only a failure measures the other inputs (each another path-patching run) to say which one carries the change.
        // The receivers are a group of the circuit, or the logits (EdgeEnd.Logits), which have one input.
        bool heads = Subject.Groups.FirstOrDefault(g => g.Name == receiver) is { } group && group.Components.All(c => c.Kind == ComponentKind.Head);
        string others = carries || !heads ? ""
            : "; through the receivers' other inputs: " + string.Join(", ", new[] { PatchAt.Query, PatchAt.Key, PatchAt.Value }.Where(v => v != edge.Via)
                .Select(v => string.Create(CultureInfo.InvariantCulture, $"{v.ToString().ToLowerInvariant()} {Subject.EdgeEffect(sender, receiver, v).Share}")));
        Execute.Assertion.BecauseOf(because, becauseArgs)
            .ForCondition(carries)
            .FailWith(Message.Text(string.Create(CultureInfo.InvariantCulture,
                $"Expected the edge {sender} → {receiver} ({effect.Input}) to carry at least {atLeast:P0} of the clean-to-corrupted gap{{reason}}, but it carries {effect.Share} ({effect.Effect:+0.000;-0.000;0.000} of {effect.Gap:+0.000;-0.000;0.000}){others}.")));
        return new AndConstraint<CircuitAssertions>(this);
    }

    /// <summary>Asserts <see cref="CarryEdge"/> for every declared edge.</summary>
    public AndConstraint<CircuitAssertions> CarryEveryEdge(double atLeast = 0.1, string because = "", params object[] becauseArgs)
    {
        foreach (var edge in Subject.Edges) CarryEdge(edge.Sender, edge.Receiver, atLeast, because, becauseArgs);
        return new AndConstraint<CircuitAssertions>(this);
    }

    private static string Lines(IEnumerable<(string Id, double Change)> items, string verb)
    {
        var sb = new StringBuilder();
        foreach (var (id, change) in items) sb.Append(CultureInfo.InvariantCulture, $"\n  {verb} {id,-8} changes f by {change:+0.000;-0.000;0.000}");
        return sb.ToString();
    }
}
