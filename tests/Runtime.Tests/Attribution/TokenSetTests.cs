using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Training;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>
/// Metrics of token sets (Greater-Than's p(year &gt; YY) − p(year ≤ YY)): the engine on the greater-than toy, pairs
/// files with sets, and the rules a set obeys. Values and derivatives on the synthetic families are in <see cref="MetricTests"/>.
/// </summary>
public class TokenSetTests
{
    [Fact]
    public void The_greater_than_toy_is_explained_by_the_probability_of_every_later_year()
    {
        var task = new GreaterThanTask();
        var model = ModelLoader.Load(RepoModels.Path("greater-than"));
        var pairs = task.YearSetPairs(4, seed: 1);
        pairs.Should().OnlyContain(p => p.AnswerTokens.Count + p.WrongTokens.Count == 100, "every year is either later or not");
        var (later, upTo) = GreaterThanTask.YearsAround("45");
        (later.First(), later.Last(), later.Length, upTo.First(), upTo.Last(), upTo.Length).Should().Be(("46", "99", 54, "00", "45", 46));
        var notAYear = () => GreaterThanTask.YearsAround("4x");
        notAYear.Should().Throw<AttributionInputException>().WithMessage("'4x' is not a two-digit year.");
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var result = new AttributionEngine(model, new AttributionOptions { Metric = MetricKind.ProbabilityDifference, Methods = Methods.Patching })
            .Run(pairs, components);

        using var scope = NewDisposeScope();
        double Expected(PromptPair pair, IReadOnlyList<int> prompt)
        {
            var p = model.Forward(ModelInput.Single(prompt, model.Device))[0, -1].softmax(-1).to_type(ScalarType.Float64).data<double>().ToArray();
            return pair.AnswerTokens.Sum(t => p[t]) - pair.WrongTokens.Sum(t => p[t]);
        }
        result.CleanMetric.Should().BeApproximately(pairs.Average(p => Expected(p, p.Clean)), 1e-5);
        result.CorruptedMetric.Should().BeApproximately(pairs.Average(p => Expected(p, p.Corrupted)), 1e-5);
        result.CleanMetric.Should().BeGreaterThan(0.9, "the toy puts its mass on later years");
        result.Evaluation!.Methods.Single(m => m.Method == "estimate").TopKOverlap.Should().BeGreaterThanOrEqualTo(0.8);
        result.Components.Where(c => c.Flagged).Should().OnlyContain(c => c.EstimateMethod == "patching");
    }

    [Fact]
    public void A_pairs_file_gives_sets_as_arrays_of_tokens()
    {
        string file = Path.Combine(Path.GetTempPath(), $"cdsl-sets-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllLines(file,
            [
                """{"clean": [1, 2, 3], "corrupted": [1, 4, 3], "answer": [7, 8, 9], "wrong": [5, 6]}""",
                """{"clean": [1, 2, 3], "corrupted": [1, 4, 3], "answer": [7], "wrong": 5}""",
            ]);
            var pairs = PromptPair.ReadJsonl(file, tokenizer: null);
            pairs[0].AnswerTokens.Should().Equal(7, 8, 9);
            pairs[0].WrongTokens.Should().Equal(5, 6);
            pairs[1].AnswerSet.Should().BeNull("a one-token array is the token");
            (pairs[1].Answer, pairs[1].Wrong).Should().Be((7, 5));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void A_set_lists_each_token_once_and_the_differences_sets_do_not_overlap()
    {
        int[] clean = [1, 2, 3], corrupted = [1, 4, 3];
        var twice = () => PromptPair.WithSets(clean, corrupted, [7, 8, 7], [5]).Validate(100);
        twice.Should().Throw<AttributionInputException>().WithMessage("*token 7 is listed twice in the answer set*");
        var overlap = () => PromptPair.WithSets(clean, corrupted, [7, 8], [8, 9]).Validate(100, metric: MetricKind.ProbabilityDifference);
        overlap.Should().Throw<AttributionInputException>().WithMessage("*token 8 is both an answer and a wrong token*");
        PromptPair.WithSets(clean, corrupted, [7, 8], [8, 9]).Validate(100, metric: MetricKind.LogProbability); // reads no wrong token
        var outside = () => PromptPair.WithSets(clean, corrupted, [7, 800], []).Validate(100, metric: MetricKind.LogProbability);
        outside.Should().Throw<AttributionInputException>().WithMessage("*token id 800 is outside the vocabulary*");
        var empty = () => PromptPair.WithSets(clean, corrupted, [], [5]);
        empty.Should().Throw<AttributionInputException>().WithMessage("*answer set is empty*");
    }
}
