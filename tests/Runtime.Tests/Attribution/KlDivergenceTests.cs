using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Datasets;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Tokenizers;
using CircuitDsl.Runtime.Training;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>
/// KL(p_clean ‖ p) is 0 and minimal at the clean run, so its gradient vanishes: AtP reads ≈ 0 for every component and
/// the second-order term is the whole first estimate. Its values and derivatives on the synthetic families are in
/// <see cref="MetricTests"/> and <see cref="CleanRunRecordTests"/>; here the engine end to end, its saturation, and its
/// input rules.
/// </summary>
public class KlDivergenceTests
{
    [SkippableFact]
    public void Atp_reads_zero_and_the_second_order_estimate_carries_the_attribution_on_stories260K()
    {
        string path = SharedData.Require("models", "stories260K", "stories260K.bin");
        var model = ModelLoader.Load(path);
        var pairs = NameSwap.Build(TokenizerLoader.Load(path, model.Config), ["Lily", "Tim"],
            fillers: new Dictionary<string, string[]> { ["place"] = ["park", "garden", "house"], ["thing"] = ["ball"] });
        IReadOnlyList<Component> components = [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var result = new AttributionEngine(model, new AttributionOptions { Metric = MetricKind.KlDivergence, Methods = Methods.Patching | Methods.Hvp })
            .Run(pairs, components);

        result.MetricKind.Should().Be("kl");
        result.CleanMetric.Should().BeApproximately(0, 1e-6);
        result.CorruptedMetric.Should().BePositive();
        result.Warnings.Should().BeEmpty("stories260K is far from sure of its names");
        double largest = result.Components.Max(c => c.Patching!.Value);
        result.Components.Should().OnlyContain(c => c.Patching >= -1e-6, "a divergence is never negative")
            .And.OnlyContain(c => Math.Abs(c.Atp) < 1e-4 * largest, "the gradient vanishes at the clean run")
            .And.OnlyContain(c => c.Hvp >= -1e-6, "the curvature at a minimum is positive semi-definite");
        result.Components.Where(c => c.Flagged).Should().NotBeEmpty().And.OnlyContain(c => c.EstimateMethod == "patching");
        var methods = result.Evaluation!.Methods.ToDictionary(m => m.Method);
        methods["hvp"].Spearman.Should().BeGreaterThan(0.99);
        methods["atp"].Spearman.Should().BeLessThan(0.5);
        methods["hvp"].MeanAbsError.Should().BeLessThan(0.3 * methods["atp"].MeanAbsError);
        methods["estimate"].TopKOverlap.Should().Be(1.0);

        // Without a screen the candidates come from the exact curvature (AtP's |l| alone would rank noise).
        var exact = new AttributionEngine(model, new AttributionOptions { Metric = MetricKind.KlDivergence, Screen = CurvatureScreen.Exact, Methods = Methods.Patching })
            .Run(pairs, components);
        exact.Components.Where(c => c.Flagged).Select(c => c.Id).Should().BeEquivalentTo(result.Components.Where(c => c.Flagged).Select(c => c.Id));
        exact.Evaluation!.Methods.Single(m => m.Method == "estimate").TopKOverlap.Should().Be(1.0);
    }

    [Fact]
    public void A_clean_distribution_sure_of_one_token_is_reported_as_saturated()
    {
        // The IOI toy puts p ≈ 1 on its answers: the softmax's Fisher matrix, the KL's curvature, vanishes with its gradient.
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(4, seed: 3);
        var result = new AttributionEngine(model, new AttributionOptions { Metric = MetricKind.KlDivergence }).Run(pairs, Components.Heads(model.Config));
        result.Warnings.Should().ContainSingle().Which.Should().Contain("4 of 4 pairs have a saturated kl").And.Contain("above 0.99");
        result.Data!.CleanTopProbabilities.Should().HaveCount(4).And.OnlyContain(p => p > 0.99);
    }

    [Fact]
    public void Its_pairs_need_no_tokens_and_faithfulness_and_edges_compare_with_each_clean_run()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pairs = new IoiTask().Pairs(2, seed: 5);
        string file = Path.Combine(Path.GetTempPath(), $"cdsl-kl-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllLines(file, pairs.Select(p => $"{{\"clean\": [{string.Join(",", p.Clean)}], \"corrupted\": [{string.Join(",", p.Corrupted)}]}}"));
            PromptPair.ReadJsonl(file, tokenizer: null, MetricKind.KlDivergence).Should().OnlyContain(p => p.Answer == 0 && p.Wrong == 0);
            var noAnswer = () => PromptPair.ReadJsonl(file, tokenizer: null, MetricKind.LogProbability);
            noAnswer.Should().Throw<AttributionInputException>().WithMessage("*no \"answer\"*");
        }
        finally { File.Delete(file); }

        IReadOnlyList<Component> heads = Components.Heads(model.Config);
        var faithfulness = new Faithfulness(model, pairs, heads, metric: MetricKind.KlDivergence);
        faithfulness.FullMetric.Should().BeApproximately(0, 1e-6, "nothing ablated is each clean run itself");
        faithfulness.EmptyMetric.Should().BePositive();

        var pair = pairs[0];
        List<Component> senders = [new(ComponentKind.Embedding, 0), .. heads, .. Components.Mlps(model.Config)];
        var edge = new EdgePatching(model, [pair], MetricKind.KlDivergence).Measure(senders, [new Component(ComponentKind.Logits, 0)]);
        using var scope = NewDisposeScope();
        var metric = AnswerMetric.ForPairs(model, MetricKind.KlDivergence, [pair])[0];
        double Measure(IReadOnlyList<int> ids) => metric.Measure(model, ModelInput.Single(ids, model.Device)).item<float>();
        Measure(pair.Clean).Should().BeApproximately(0, 1e-6);
        edge.Gap.Should().BeApproximately(Measure(pair.Corrupted), 1e-5);
        var screen = () => new EdgeAttribution(model, [pair], MetricKind.KlDivergence);
        screen.Should().Throw<AttributionInputException>().WithMessage("*first order*gradient at the clean run is 0*path patching*");
    }

    [Fact]
    public void Without_its_clean_distribution_it_says_how_to_build_one()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pair = new IoiTask().Pairs(1, seed: 3)[0];
        var bare = () => AnswerMetric.Of(MetricKind.KlDivergence, pair).Measure(model, ModelInput.Single(pair.Clean, model.Device));
        bare.Should().Throw<InvalidOperationException>().WithMessage("*AnswerMetric.ForPairs*");
        var twoRows = () => AnswerMetric.KlFrom(zeros(2, model.Config.VocabSize));
        twoRows.Should().Throw<ArgumentException>().WithMessage("*one row of log-probabilities*");
        AnswerMetric.Parse("KL").Should().Be(MetricKind.KlDivergence);
        var atpOnly = new AttributionEngine(model, new AttributionOptions { Metric = MetricKind.KlDivergence, ScreenFlagFix = false, Methods = Methods.Atp })
            .Run([pair], Components.Heads(model.Config));
        atpOnly.Warnings.Should().Contain(w => w.Contains("read ≈ 0 for every component by construction"));
        AnswerMetric.ReadsAnswerToken(MetricKind.KlDivergence).Should().BeFalse();
    }
}
