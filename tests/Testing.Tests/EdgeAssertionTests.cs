using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Training;
using Xunit.Sdk;

namespace CircuitDsl.Testing.Tests;

/// <summary>The induction toy model (ours, committed), loaded once for the class.</summary>
public sealed class InductionToyFixture() : ModelFixture(EmbeddedModels.Locate("induction"));

public class EdgeAssertionTests(InductionToyFixture toy) : IClassFixture<InductionToyFixture>
{
    private static readonly ComponentGroup[] Groups =
    [
        new("Layer0", [.. Enumerable.Range(0, 4).Select(h => new ComponentRef(ComponentKind.Head, 0, h))]),
        new("InductionHeads", [.. Enumerable.Range(0, 4).Select(h => new ComponentRef(ComponentKind.Head, 1, h))]),
    ];

    // The task's pairs swap the token after the earlier copy: that change reaches the induction heads' values.
    private CircuitUnderTest Claim(PatchAt via) =>
        CircuitUnderTest.From("induction", Groups, toy.Model, new InductionTask().Pairs(8, seed: 5), edges: [new CircuitEdge("Layer0", "InductionHeads", via)]);

    [Fact]
    public void CarryEdge_passes_for_the_input_that_carries_the_change()
    {
        Claim(PatchAt.Value).Should().CarryEdge("Layer0", "InductionHeads", atLeast: 0.5).And.CarryEveryEdge(atLeast: 0.5);
    }

    [Fact]
    public void CarryEdge_fails_for_another_input_and_says_which_input_carries_it()
    {
        var act = () => Claim(PatchAt.Key).Should().CarryEdge("Layer0", "InductionHeads", atLeast: 0.5);
        act.Should().Throw<XunitException>().WithMessage("*Layer0 → InductionHeads (key)*at least 50 %*carries 2 %*query 0 %, value 99 %*");
    }

    [Fact]
    public void An_edge_into_the_logits_reports_its_share_and_has_no_other_inputs_to_list()
    {
        // The swapped token is not at the position the metric reads, so the embedding sends nothing straight to the
        // logits, while the induction heads write the prediction there.
        var claim = CircuitUnderTest.From("induction", Groups, toy.Model, new InductionTask().Pairs(8, seed: 5),
            edges: [new CircuitEdge("InductionHeads", EdgeEnd.Logits, PatchAt.Query), new CircuitEdge(EdgeEnd.Embedding, EdgeEnd.Logits, PatchAt.Query)]);
        claim.Should().CarryEdge("InductionHeads", EdgeEnd.Logits, atLeast: 0.3);
        var act = () => claim.Should().CarryEdge(EdgeEnd.Embedding, EdgeEnd.Logits, atLeast: 0.3);
        act.Should().Throw<XunitException>().Which.Message.Should().Match("*embed → logits (input)*carries 0 %*").And.NotContain("other inputs");
    }

    [Fact]
    public void An_undeclared_edge_or_a_claim_without_edges_is_a_clear_error()
    {
        var act = () => Claim(PatchAt.Value).Should().CarryEdge("InductionHeads", "Layer0");
        act.Should().Throw<ArgumentException>().WithMessage("*declares no edge InductionHeads → Layer0*declares: Layer0 → InductionHeads*");
        var noEdges = CircuitUnderTest.From("induction", Groups, toy.Model, new InductionTask().Pairs(2, seed: 5));
        noEdges.Invoking(c => c.EdgeEffect("Layer0", "InductionHeads", PatchAt.Value)).Should().Throw<InvalidOperationException>().WithMessage("*without edges*Edges*");
    }
}
