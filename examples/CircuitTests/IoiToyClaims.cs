using CircuitDsl;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Testing;

namespace CircuitDsl.Examples.CircuitTests;

/// <summary>Our IOI toy model (models/ioi), bound at compile time.</summary>
[ModelBinding("models/ioi/config.json")]
public static partial class IoiToy;

/// <summary>The claim under test: layers 0–1 and the MLPs carry indirect object identification.</summary>
[Circuit(typeof(IoiToy), Name = "IOI toy core")]
public static partial class IoiCore
{
    [Heads("0.0", "0.1", "0.2", "0.3")] public static partial ComponentGroup DuplicateDetection { get; }
    [Heads("1.0", "1.1", "1.2", "1.3")] public static partial ComponentGroup Movers { get; }
    [Mlps(0, 1, 2)] public static partial ComponentGroup Mlps { get; }
}

/// <summary>Name swap: the giver's name changes, so the answer flips.</summary>
[Experiment(typeof(IoiCore), Pairs = 12, Seed = 4)]
[Template("When {A} and {B} went to the {place} , {B} gave a {thing} to", Answer = "A", Wrong = "B")]
[Slot("A", "Mary", "John", "Anna", "Bob", "Lisa", "Tom")]
[Slot("B", "Mary", "John", "Anna", "Bob", "Lisa", "Tom")]
[Slot("place", "store", "park")]
[Slot("thing", "drink", "ball")]
[SwapSlot("B", With = "A")]
public static partial class GiverSwap;

public sealed class IoiToyModel() : ModelFixture(System.IO.Path.Combine(AppContext.BaseDirectory, "models", "ioi"));

/// <summary>Circuit claims about the IOI toy model, written as tests.</summary>
public class IoiToyClaims(IoiToyModel toy) : IClassFixture<IoiToyModel>
{
    [Theory]
    [PromptPairData("data/ioi-toy.jsonl")]
    public void Screen_flag_fix_ranks_like_patching_on_every_pair(string clean, string corrupted, string answer, string wrong)
    {
        var pair = PromptPair.FromText(toy.Tokenizer, clean, corrupted, answer, wrong);
        var result = new AttributionEngine(toy.Model, new AttributionOptions { Methods = Methods.Patching })
            .Run([pair], [.. Components.Heads(toy.Model.Config), .. Components.Mlps(toy.Model.Config)]);

        // Not "L0MLP is flagged" on every pair: on one pair φ is flat at t = 0 and bends later, so the local R̃ misses
        // AtP's error there (README, limitations). The ranking after Screen–Flag–Fix still agrees with patching.
        result.Should().AgreeWithPatching(topK: 3, atLeast: 0.66);
    }

    [Fact]
    public void The_declared_experiment_finds_the_movers_and_corrects_the_MLPs()
    {
        var result = GiverSwap.Run(toy.Model, toy.Tokenizer);
        result.Mlps.Should().OnlyContain(e => e.Flagged, "AtP underestimates every MLP under a name swap");
        result.Attribution.Should().RankInTop(3, "L0MLP");
        result.Attribution.ShouldHave("L0MLP").HaveEffect().Between(-30, -5);
    }

    [Fact]
    public void The_core_circuit_recovers_most_of_the_behaviour_and_every_part_matters()
    {
        var pairs = ExperimentRunner.Pairs(toy.Tokenizer, GiverSwap.Plan);
        var circuit = CircuitUnderTest.From(IoiCore.CircuitName, IoiCore.Groups, toy.Model, pairs);
        // Measured f ≈ 0.68 under corrupted ablation: the layer-2 heads carry the rest.
        circuit.Should().BeFaithful(atLeast: 0.6).And.BeMinimal(minimumContribution: 0.01);
    }
}
