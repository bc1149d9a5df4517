using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Tokenizers;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Runtime.Tests.Experiments;

/// <summary>Plans become prompt pairs as declared (here with the bundled GPT-2 vocabulary, no weights needed).</summary>
public class ExperimentRunnerTests
{
    private static ExperimentPlan Plan(string template, (string, string[])[] slots, string answer, string wrong, string swap, string with, string prefix,
        Metric metric = Metric.LogitDifference) =>
        new("E", "C", new ModelShape("gpt2", 12, 12, 12, 3072, false), [], template,
            [.. slots.Select(s => new KeyValuePair<string, string[]>(s.Item1, s.Item2))], answer, wrong, PerturbationKind.SwapSlot, swap, with,
            [], null, Estimator.ScreenFlagFix, true, 1.0 / 3, 5, 32, 50, 0, prefix, metric: metric);

    // Two names swapped as the giver, three values for B: two of the six fills would swap a name for itself.
    private static ExperimentPlan NameSwap(string answer, Metric metric) => Plan("When {A} and {B} went to the store, {B} gave a drink to",
        [("A", ["Mary", "John"]), ("B", ["Mary", "John", "Tom"])], answer, "", "B", "A", " ", metric);

    [Fact]
    public void Greater_than_years_continue_the_word_and_name_swaps_start_a_new_one()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        var years = ExperimentRunner.Pairs(gpt2, Plan("The war lasted from the year 17{YY} to the year 17",
            [("YY", ["32", "45"]), ("Later", ["99"]), ("Early", ["01"])], "Later", "YY", "YY", "Early", ""));
        years.Should().HaveCount(2);
        years.Should().OnlyContain(p => p.Clean.Count == p.Corrupted.Count && p.Answer == gpt2.Encode("99", false)[0]);
        gpt2.Decode(years[0].Corrupted).Should().Contain("from the year 1701 to");

        var names = ExperimentRunner.Pairs(gpt2, Plan("When {A} and {B} went to the store, {B} gave a drink to",
            [("A", ["Mary", "John"]), ("B", ["Mary", "John"])], "A", "B", "B", "A", " "));
        names.Should().HaveCount(2, "pairs need distinct answer and wrong names");
        names.Should().Contain(p => p.Answer == 5335 && gpt2.Decode(p.Corrupted).EndsWith("Mary gave a drink to"));
    }

    [Fact]
    public void A_log_probability_plan_needs_no_wrong_slot_and_never_swaps_a_name_for_itself()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        var plan = NameSwap("A", Metric.LogProbability);
        var pairs = ExperimentRunner.Pairs(gpt2, plan);
        pairs.Should().HaveCount(4, "of six fills, two would swap a name for itself and corrupt nothing");
        pairs.Should().OnlyContain(p => p.Wrong == p.Answer && !p.Clean.SequenceEqual(p.Corrupted));
        ExperimentRunner.ToMetricKind(plan.Metric).Should().Be(MetricKind.LogProbability);
    }

    [Fact]
    public void A_kl_plan_needs_no_answer_slot_and_its_pairs_read_no_token()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        var plan = NameSwap("", Metric.KlDivergence);
        var pairs = ExperimentRunner.Pairs(gpt2, plan);
        pairs.Should().HaveCount(4).And.OnlyContain(p => p.Answer == 0 && p.Wrong == 0 && !p.Clean.SequenceEqual(p.Corrupted));
        ExperimentRunner.ToMetricKind(plan.Metric).Should().Be(MetricKind.KlDivergence);
    }

    [Fact]
    public void Answer_sets_become_token_sets_of_every_pair()
    {
        // Greater-Than on GPT-2's vocabulary: every two-digit year is one token after "17".
        static (string[] Answers, string[] Wrongs) YearsAround(IReadOnlyDictionary<string, string> slots) => GreaterThanTask.YearsAround(slots["YY"]);
        var gpt2 = TokenizerLoader.Gpt2();
        var plan = new ExperimentPlan("E", "C", new ModelShape("gpt2", 12, 12, 12, 3072, false), [], "The war lasted from the year 17{YY} to the year 17",
            [new("YY", ["32", "45"]), new("Early", ["01"])], "", "", PerturbationKind.SwapSlot, "YY", "Early",
            [], null, Estimator.ScreenFlagFix, true, 1.0 / 3, 5, 32, 50, 0, "", metric: Metric.ProbabilityDifference, answerSets: YearsAround);
        var pairs = ExperimentRunner.Pairs(gpt2, plan);
        pairs.Should().HaveCount(2).And.OnlyContain(p => p.AnswerTokens.Count + p.WrongTokens.Count == 100 && p.AnswerTokens.Intersect(p.WrongTokens).Count() == 0);
        var at45 = pairs.Single(p => gpt2.Decode(p.Clean).Contains("1745"));
        at45.AnswerTokens.Should().HaveCount(54).And.Contain(gpt2.Encode("46", false)[0]);
        at45.WrongTokens.Should().Contain(gpt2.Encode("45", false)[0]);

        // A function that fails, or gives no answer, is reported with the slots it was given.
        ExperimentPlan With(Func<IReadOnlyDictionary<string, string>, (string[], string[])> f) => new("E", "C", plan.Model, [], plan.Template,
            plan.Slots, "", "", PerturbationKind.SwapSlot, "YY", "Early", [], null, Estimator.ScreenFlagFix, true, 1.0 / 3, 5, 32, 50, 0, "",
            metric: Metric.ProbabilityDifference, answerSets: f);
        var failing = () => ExperimentRunner.Pairs(gpt2, With(s => (new[] { s["Missing"] }, [])));
        failing.Should().Throw<AttributionInputException>().WithMessage("Experiment E: its answer-set function failed for YY = *, Early = 01: *Missing*");
        var empty = () => ExperimentRunner.Pairs(gpt2, With(_ => ([], ["01"])));
        empty.Should().Throw<AttributionInputException>().WithMessage("Experiment E: its answer-set function gave no answer for YY = *");
    }

    [Fact]
    public void A_plan_whose_every_fill_corrupts_nothing_says_which_slots_must_differ()
    {
        var plan = Plan("{A} met {B}, then {B} left", [("A", ["Mary"]), ("B", ["Mary"])], "A", "B", "B", "A", " ");
        var act = () => ExperimentRunner.Pairs(TokenizerLoader.Gpt2(), plan);
        act.Should().Throw<AttributionInputException>().WithMessage("Experiment E: no slot combination has distinct A and B, and distinct swapped B and A.");
    }

    [Fact]
    public void A_plan_s_fix_reaches_the_engine()
    {
        var model = CircuitDsl.Runtime.Loading.ModelLoader.Load(Support.RepoModels.Path("ioi"));
        var tokenizer = TokenizerLoader.Load(Support.RepoModels.Path("ioi"), model.Config);
        ComponentGroup mlps = new("Mlps", [.. Enumerable.Range(0, model.Config.Layers).Select(l => new ComponentRef(ComponentKind.Mlp, l, 0))]);
        AttributionResult Run(FixBy fix) => ExperimentRunner.Run(model, tokenizer, new ExperimentPlan("E", "C", new ModelShape("llama", model.Config.Layers,
            model.Config.Heads, model.Config.KvHeads, model.Config.Intermediate, false), [mlps], "When {A} and {B} went to the store , {B} gave a drink to",
            [new("A", ["Mary", "John", "Anna"]), new("B", ["Mary", "John", "Anna"])], "A", "B", PerturbationKind.SwapSlot, "B", "A", [], null,
            Estimator.ScreenFlagFix, true, 1.0 / 3, 5, 32, 4, 1, fix: fix));

        var (patched, secondOrder) = (Run(FixBy.Patching), Run(FixBy.SecondOrder));
        secondOrder.Components.Should().Contain(c => c.Flagged);
        foreach (var (byPatching, bySecondOrder) in patched.Components.Zip(secondOrder.Components).Where(x => x.First.Flagged))
            (byPatching.EstimateMethod, bySecondOrder.EstimateMethod).Should().Be(("patching", "hvp"), byPatching.Id);
    }

    [SkippableFact]
    public void A_plan_compiled_for_another_shape_is_refused_before_any_work()
    {
        var model = Support.Fixtures.Load("gpt2");
        var act = () => ExperimentRunner.Run(model, TokenizerLoader.Gpt2(), Plan("{A} {B}", [("A", ["a"]), ("B", ["b"])], "A", "B", "B", "A", " "));
        act.Should().Throw<AttributionInputException>().WithMessage("*compiled against a gpt2 model with 12 layers*given has 3 layers*rebuild*");
    }
}
