using CircuitDsl.Examples.Induction;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Testing;

namespace CircuitDsl.Examples.CircuitTests;

public sealed class InductionToyModel() : ModelFixture(System.IO.Path.Combine(AppContext.BaseDirectory, "models", "induction"));

/// <summary>Claims about the induction toy's circuit (examples/Induction), its declared edge included.</summary>
public class InductionClaims(InductionToyModel toy) : IClassFixture<InductionToyModel>
{
    [Fact]
    public void The_swapped_token_reaches_the_induction_heads_through_their_values()
    {
        var pairs = ExperimentRunner.Pairs(toy.Tokenizer, TokenSwap.Plan);
        var circuit = CircuitUnderTest.From(InductionCircuit.CircuitName, InductionCircuit.Groups, toy.Model, pairs, edges: InductionCircuit.Edges);
        circuit.Should().CarryEveryEdge(atLeast: 0.9, "layer 0 moves the swapped token to where the induction heads read it");
    }

    [Fact]
    public void The_declared_experiment_reports_its_edge_beside_its_estimates()
    {
        var result = TokenSwap.Run(toy.Model, toy.Tokenizer);
        result.InductionHeads.Should().Contain(e => e.Flagged, "AtP underestimates the induction heads under a token swap");
        result.Edges.Should().ContainSingle().Which.Fraction.Should().BeGreaterThan(0.9);
    }
}
