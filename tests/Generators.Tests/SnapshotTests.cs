using CircuitDsl.Generators.Tests.Support;

namespace CircuitDsl.Generators.Tests;

/// <summary>One snapshot per feature of the generated code.</summary>
public class SnapshotTests
{
    [Fact]
    public void Model_binding_from_config_emits_shape_and_site_catalog()
    {
        var outcome = GeneratorHarness.Run("""
            namespace Demo;
            [CircuitDsl.ModelBinding("toy/config.json")]
            public static partial class Toy;
            public static class Use { public static CircuitDsl.SiteRef Z => Toy.Sites.L1.H3.Z; public static CircuitDsl.SiteRef K => Toy.Sites.L0.H1.K; }
            """, ("/repo/models/toy/config.json", GeneratorHarness.ToyConfig));
        outcome.AllDiagnostics.Should().BeEmpty();
        Snapshot.Match(outcome.Generated("Demo.Toy.g.cs"), "ModelBinding");
    }

    [Fact]
    public void Circuit_with_every_group_kind_and_an_edge_emits_groups_and_index_arrays()
    {
        var outcome = GeneratorHarness.Run("""
            using CircuitDsl;
            namespace Demo;
            [ModelBinding(Family = "llama", Layers = 2, Heads = 4, KvHeads = 2, Neurons = 64)]
            public static partial class Toy;
            [Circuit(typeof(Toy), Name = "toy circuit")]
            [Edge(nameof(Early), nameof(Mlps))]
            public static partial class ToyCircuit
            {
                [Heads("0.1", "0.3")] public static partial ComponentGroup Early { get; }
                [Heads("1.2", Patch = PatchAt.Query)] public static partial ComponentGroup Late { get; }
                [Mlps(0, 1)] public static partial ComponentGroup Mlps { get; }
                [Neurons(1, 5, 63)] public static partial ComponentGroup Neurons { get; }
                [Residual(1, 0, 4)] public static partial ComponentGroup Residual { get; }
                [Heads("1.1", Patch = PatchAt.Value, Position = 3)] public static partial ComponentGroup ValueAtThree { get; }
            }
            """);
        outcome.AllDiagnostics.Should().BeEmpty();
        Snapshot.Match(outcome.Generated("Demo.ToyCircuit.g.cs"), "Circuit");
    }

    [Fact]
    public void Experiment_emits_its_plan()
    {
        var outcome = GeneratorHarness.Run(ExperimentSource, ("config.json", GeneratorHarness.ToyConfig));
        outcome.AllDiagnostics.Should().BeEmpty();
        Snapshot.Match(outcome.Generated("Demo.Swap.g.cs"), "Experiment");
    }

    public const string ExperimentSource = """
        using CircuitDsl;
        namespace Demo;
        [ModelBinding("config.json")]
        public static partial class Toy;
        [Circuit(typeof(Toy))]
        public static partial class ToyCircuit
        {
            [Heads("1.0", "1.3")] public static partial ComponentGroup Movers { get; }
        }
        [Experiment(typeof(ToyCircuit), Tau = 0.25, K = 4, Pairs = 8)]
        [Template("When {A} and {B} went out, {B} gave it to", Answer = "A", Wrong = "B")]
        [Slot("A", "Mary", "John")]
        [Slot("B", "Mary", "John")]
        [SwapSlot("B", With = "A")]
        public static partial class Swap;
        """;
}
