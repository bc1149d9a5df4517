using CircuitDsl;
using CircuitDsl.Runtime.Training;
using CircuitDsl.Testing;

namespace CircuitDsl.Examples.CircuitTests;

/// <summary>Our greater-than toy model (models/greater-than), bound at compile time.</summary>
[ModelBinding("models/greater-than/config.json")]
public static partial class GreaterThanToy;

/// <summary>Every head and MLP of the toy, by layer.</summary>
[Circuit(typeof(GreaterThanToy), Name = "greater-than toy")]
public static partial class YearComparison
{
    [Heads("0.0", "0.1", "0.2", "0.3")] public static partial ComponentGroup FirstHeads { get; }
    [Heads("1.0", "1.1", "1.2", "1.3")] public static partial ComponentGroup SecondHeads { get; }
    [Mlps(0, 1)] public static partial ComponentGroup Mlps { get; }
}

/// <summary>
/// An earlier start year: p(year &gt; YY) − p(year ≤ YY) of the clean YY (Hanna et al.'s probability difference), with
/// every year on one side or the other as a token set.
/// </summary>
[Experiment(typeof(YearComparison), Pairs = 12, Seed = 2, Metric = Metric.ProbabilityDifference)]
[Template("The war lasted from the year 17 {YY} to the year 17")]
[Slot("YY", "50", "60", "70", "80")]
[Slot("Earlier", "10", "20", "30")]
[SwapSlot("YY", With = "Earlier")]
[AnswerSets(nameof(YearsAround))]
public static partial class EarlierStart
{
    private static (string[] Answers, string[] Wrongs) YearsAround(IReadOnlyDictionary<string, string> slots) => GreaterThanTask.YearsAround(slots["YY"]);
}

public sealed class GreaterThanToyModel() : ModelFixture(System.IO.Path.Combine(AppContext.BaseDirectory, "models", "greater-than"));

/// <summary>Claims about the greater-than toy, measured by the probability of every later year.</summary>
public class GreaterThanToyClaims(GreaterThanToyModel toy) : IClassFixture<GreaterThanToyModel>
{
    [Fact]
    public void An_earlier_start_year_moves_the_mass_below_the_clean_one()
    {
        var result = EarlierStart.Run(toy.Model, toy.Tokenizer).Attribution;
        result.CleanMetric.Should().BeGreaterThan(0.9, "the toy puts its mass above YY");
        result.CorruptedMetric.Should().BeLessThan(result.CleanMetric - 0.5);
    }

    [Fact]
    public void The_last_layers_head_3_compares_and_AtP_underestimates_what_it_flags()
    {
        var result = EarlierStart.Run(toy.Model, toy.Tokenizer);
        result.Attribution.Should().RankInTop(1, "L1H3");
        result.Attribution.ShouldHave("L1H3").BeFlagged();
        // The softmax saturates on the clean prompts (p > 0.9 above YY): AtP sees a fraction of each flagged effect.
        result.Attribution.Components.Where(e => e.Flagged).Should().OnlyContain(e => Math.Abs(e.Atp) < 0.5 * Math.Abs(e.Patching!.Value));
        result.Attribution.Should().AgreeWithPatching(topK: 5, atLeast: 0.8);
    }
}
