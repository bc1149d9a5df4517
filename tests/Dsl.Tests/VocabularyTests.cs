namespace CircuitDsl.Dsl.Tests;

public class VocabularyTests
{
    [Theory]
    [InlineData(ComponentKind.Head, 9, 9, -1, "L9H9")]
    [InlineData(ComponentKind.Mlp, 2, 0, -1, "L2MLP")]
    [InlineData(ComponentKind.Neuron, 3, 17, -1, "L3N17")]
    [InlineData(ComponentKind.Residual, 1, 4, -1, "L1R4")]
    [InlineData(ComponentKind.Query, 7, 3, -1, "L7H3Q")]
    [InlineData(ComponentKind.Key, 7, 1, 5, "L7H1K@5")]
    [InlineData(ComponentKind.Head, 0, 2, 3, "L0H2@3")]
    public void Component_ids_follow_the_design_vocabulary(ComponentKind kind, int layer, int index, int position, string id) =>
        new ComponentRef(kind, layer, index, position).Id.Should().Be(id);

    [Fact]
    public void Attributes_keep_what_users_write()
    {
        new CircuitAttribute(typeof(string)) { Name = "ioi" }.Name.Should().Be("ioi");
        new HeadsAttribute("9.9", "10.0") { Patch = PatchAt.Query }.Heads.Should().Equal("9.9", "10.0");
        new ExperimentAttribute(typeof(string)).Tau.Should().BeApproximately(1.0 / 3, 1e-12);
        new SwapSlotAttribute("S") { With = "IO" }.With.Should().Be("IO");
        new ComponentGroup("G", [new ComponentRef(ComponentKind.Mlp, 1, 0)]).ToString().Should().Be("G [L1MLP]");
    }
}
