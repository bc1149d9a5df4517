using CircuitDsl.Examples.Stories260K;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Datasets;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Testing;

namespace CircuitDsl.Examples.CircuitTests;

/// <summary>stories260K from ../shared (a real trained model; never copied into this repository).</summary>
public sealed class Stories260K() : ModelFixture(Find())
{
    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "..", "shared", "models", "stories260K", "stories260K.bin");
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "CircuitDsl.sln"))) return File.Exists(candidate) ? candidate : null;
        }
        return null;
    }
}

/// <summary>Claims about stories260K's name handling (Lily/Tim swaps).</summary>
public class Stories260KClaims(Stories260K stories) : IClassFixture<Stories260K>
{
    [SkippableFact]
    public void The_last_head_of_layer_4_matters_most_and_AtP_is_unreliable_for_early_MLPs()
    {
        Skip.IfNot(stories.Available, "Needs ../shared/models/stories260K beside the repository.");
        var pairs = NameSwap.Build(stories.Tokenizer, ["Lily", "Tim"], fillers: new Dictionary<string, string[]> { ["place"] = ["park", "garden"], ["thing"] = ["ball"] });
        var result = new AttributionEngine(stories.Model).Run(pairs, [.. Components.Heads(stories.Model.Config), .. Components.Mlps(stories.Model.Config)], "stories260K");

        result.Should().RankInTop(3, "L4H2");
        result.ShouldHave("L4H2").BeReliable();
        result.ShouldHave("L0MLP").BeFlagged();
    }

    [SkippableFact]
    public void The_early_MLPs_reach_the_last_layers_heads_through_their_values()
    {
        Skip.IfNot(stories.Available, "Needs ../shared/models/stories260K beside the repository.");
        var pairs = ExperimentRunner.Pairs(stories.Tokenizer, Examples.Stories260K.GiverSwap.Plan);
        CircuitUnderTest.From(NameCircuit.CircuitName, NameCircuit.Groups, stories.Model, pairs, edges: NameCircuit.Edges)
            .Should().CarryEdge(nameof(NameCircuit.Mlps), nameof(NameCircuit.LateHeads), atLeast: 0.8);
    }

    [SkippableFact]
    public void The_last_layers_heads_write_the_name_straight_into_the_logits()
    {
        Skip.IfNot(stories.Available, "Needs ../shared/models/stories260K beside the repository.");
        var pairs = ExperimentRunner.Pairs(stories.Tokenizer, Examples.Stories260K.GiverSwap.Plan);
        CircuitUnderTest.From(NameCircuit.CircuitName, NameCircuit.Groups, stories.Model, pairs, edges: NameCircuit.Edges)
            .Should().CarryEdge(nameof(NameCircuit.LateHeads), EdgeEnd.Logits, atLeast: 0.7);
    }

    [SkippableFact]
    public void Through_the_softmax_the_main_head_needs_the_fix_it_does_not_need_for_the_logit_difference()
    {
        Skip.IfNot(stories.Available, "Needs ../shared/models/stories260K beside the repository.");
        var byLogit = Examples.Stories260K.GiverSwap.Run(stories.Model, stories.Tokenizer).Attribution;
        var byLogProbability = GiverSwapLogProbability.Run(stories.Model, stories.Tokenizer).Attribution;

        byLogit.ShouldHave("L4H2").BeReliable();
        byLogProbability.ShouldHave("L4H2").BeFlagged();
        byLogProbability.Component("L4H2").Estimate.Should().Be(byLogProbability.Component("L4H2").Patching, "a flagged estimate is the exact effect");

        // The edges carry the log-probability as they carry the logit difference.
        var pairs = ExperimentRunner.Pairs(stories.Tokenizer, GiverSwapLogProbability.Plan);
        CircuitUnderTest.From(NameCircuit.CircuitName, NameCircuit.Groups, stories.Model, pairs, edges: NameCircuit.Edges,
                metric: ExperimentRunner.ToMetricKind(GiverSwapLogProbability.Plan.Metric))
            .Should().CarryEdge(nameof(NameCircuit.Mlps), nameof(NameCircuit.LateHeads), atLeast: 0.8);
    }

    [SkippableFact]
    public void Under_the_kl_divergence_AtP_sees_nothing_and_the_flags_recover_the_main_head()
    {
        Skip.IfNot(stories.Available, "Needs ../shared/models/stories260K beside the repository.");
        var byKl = GiverSwapKl.Run(stories.Model, stories.Tokenizer).Attribution;

        byKl.Component("L4H2").Atp.Should().BeApproximately(0, 1e-5, "the clean run is the divergence's minimum");
        byKl.ShouldHave("L4H2").BeFlagged();
        byKl.Should().RankInTop(1, "L4H2");
        byKl.Component("L4H2").Estimate.Should().Be(byKl.Component("L4H2").Patching, "a flagged estimate is the exact effect");
    }
}
