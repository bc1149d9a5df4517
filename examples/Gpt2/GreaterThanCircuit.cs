using CircuitDsl;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Examples.Gpt2;

/// <summary>The greater-than circuit of GPT-2 small (Hanna et al. 2023): heads that attend to the start year and
/// MLPs 8–11 that write the years above it.</summary>
[Circuit(typeof(Gpt2Small), Name = "Greater-Than")]
[Edge(nameof(YearHeads), nameof(LateMlps))]
public static partial class GreaterThanCircuit
{
    [Heads("5.1", "5.5", "6.1", "6.9", "7.10", "8.8", "8.11", "9.1")] public static partial ComponentGroup YearHeads { get; }
    [Mlps(9, 10, 11)] public static partial ComponentGroup LateMlps { get; }
    [Mlps(8)] public static partial ComponentGroup Mlp8 { get; }
}

/// <summary>The "01" corruption: with the start year 1701, no later year is preferred any more.</summary>
[Experiment(typeof(GreaterThanCircuit), Pairs = 16)]
[Template("The war lasted from the year 17{YY} to the year 17", Answer = "Later", Wrong = "YY", AnswerPrefix = "")]
[Slot("YY", "32", "45", "56", "63", "70")]
[Slot("Later", "99", "98", "89")]
[Slot("Early", "01")]
[SwapSlot("YY", With = "Early")]
public static partial class GreaterThanYears;

/// <summary>
/// The same corruption measured as Hanna et al. do: p(year &gt; YY) − p(year ≤ YY), every two-digit year (one GPT-2
/// token each after "17") on one side or the other.
/// </summary>
[Experiment(typeof(GreaterThanCircuit), Pairs = 16, Metric = Metric.ProbabilityDifference)]
[Template("The war lasted from the year 17{YY} to the year 17", AnswerPrefix = "")]
[Slot("YY", "32", "45", "56", "63", "70")]
[Slot("Early", "01")]
[SwapSlot("YY", With = "Early")]
[AnswerSets(nameof(YearsAround))]
public static partial class GreaterThanProbability
{
    private static (string[] Answers, string[] Wrongs) YearsAround(IReadOnlyDictionary<string, string> slots) => GreaterThanTask.YearsAround(slots["YY"]);
}
