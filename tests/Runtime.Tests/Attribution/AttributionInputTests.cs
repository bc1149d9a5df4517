using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Tokenizers;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>Bad attribution inputs get a clear, typed error before any heavy work (synthetic-weight llama fixture).</summary>
public class AttributionInputTests
{
    [SkippableFact]
    public void Mismatched_lengths_empty_sets_duplicates_and_out_of_range_components_are_rejected()
    {
        var model = Fixtures.Load("llama");
        var engine = new AttributionEngine(model);
        var heads = Components.Heads(model.Config);
        var good = new PromptPair([1, 2, 3, 4], [1, 2, 5, 4], 7, 8);

        engine.Invoking(e => e.Run([new PromptPair([1, 2, 3], [1, 2], 7, 8)], heads)).Should().Throw<AttributionInputException>().WithMessage("*same length*clean 3*corrupted 2*");
        engine.Invoking(e => e.Run([good], [])).Should().Throw<AttributionInputException>().WithMessage("*component set is empty*");
        engine.Invoking(e => e.Run([], heads)).Should().Throw<AttributionInputException>().WithMessage("*No prompt pairs*");
        engine.Invoking(e => e.Run([good], [heads[0], heads[0]])).Should().Throw<AttributionInputException>().WithMessage("*L0H0 is listed twice*");
        engine.Invoking(e => e.Run([good], [new Component(ComponentKind.Head, 0, 9)])).Should().Throw<SiteOutOfRangeException>().WithMessage("*L0H9*0..3*");
        engine.Invoking(e => e.Run([good], [new Component(ComponentKind.Head, 5, 0)])).Should().Throw<SiteOutOfRangeException>().WithMessage("*layers are 0..1*");
        engine.Invoking(e => e.Run([good with { Answer = 500 }], heads)).Should().Throw<AttributionInputException>().WithMessage("*500*outside the vocabulary*");
        engine.Invoking(e => e.Run([good], [Component.Parse("embed")])).Should().Throw<AttributionInputException>().WithMessage("*embed is an end of edges*L0R{p}*");
        engine.Invoking(e => e.Run([good], [Component.Parse("logits")])).Should().Throw<AttributionInputException>().WithMessage("*logits is an end of edges*");
        engine.Invoking(e => e.Run([good with { Wrong = 7 }], heads)).Should().Throw<AttributionInputException>().WithMessage("*answer and the wrong token are the same (7)*");
        engine.Invoking(e => e.Run([good with { Corrupted = good.Clean }], heads)).Should().Throw<AttributionInputException>().WithMessage("*clean and corrupted prompts are the same*");
        engine.Invoking(e => e.Run([good], [new Component(ComponentKind.Residual, 0, 9)])).Should().Throw<AttributionInputException>().WithMessage("*L0R9*position*");
        new AttributionEngine(model, new AttributionOptions { Tau = 1.5 }).Invoking(e => e.Run([good], heads)).Should().Throw<AttributionInputException>().WithMessage("*τ*");
        new AttributionEngine(model, new AttributionOptions { K = 0 }).Invoking(e => e.Run([good], heads)).Should().Throw<AttributionInputException>().WithMessage("*K*");
        new AttributionEngine(model, new AttributionOptions { ScreenTauFraction = 1.5 }).Invoking(e => e.Run([good], heads)).Should().Throw<AttributionInputException>().WithMessage("*fraction of τ*[0, 1]*1.5*");
        new AttributionEngine(model, new AttributionOptions { CleanRecordBudget = -1 }).Invoking(e => e.Run([good], heads)).Should().Throw<AttributionInputException>().WithMessage("*clean-record budget*≥ 0*-1*");
    }

    [Theory]
    [InlineData("{\"clean\": [1, 2], \"corrupted\": [1, 3], \"answer\": 4}", "*:1: no \"wrong\"*")]
    [InlineData("[1, 2]", "*:1: no \"clean\"*")]
    [InlineData("not json", "*:1: *invalid JSON*")]
    public void A_pairs_file_line_that_is_not_a_pair_names_its_line_and_what_is_missing(string line, string message)
    {
        string path = Path.Combine(Path.GetTempPath(), $"cdsl-pairs-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, line + "\n");
        try
        {
            var act = () => PromptPair.ReadJsonl(path, tokenizer: null);
            act.Should().Throw<AttributionInputException>().WithMessage(message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_pairs_file_for_the_log_probability_may_leave_out_the_wrong_token()
    {
        string path = Path.Combine(Path.GetTempPath(), $"cdsl-pairs-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, "{\"clean\": [1, 2], \"corrupted\": [1, 3], \"answer\": 4}\n{\"clean\": [1, 2], \"corrupted\": [1, 3], \"answer\": 4, \"wrong\": 5}\n");
        try
        {
            var pairs = PromptPair.ReadJsonl(path, tokenizer: null, MetricKind.LogProbability);
            pairs.Select(p => (p.Answer, p.Wrong)).Should().Equal((4, 4), (4, 5));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Multi_token_answers_are_rejected_with_their_ids()
    {
        var tokenizer = TokenizerLoader.Gpt2();
        var act = () => PromptPair.SingleToken(tokenizer, " Marylebone");
        act.Should().Throw<AttributionInputException>().WithMessage("*Marylebone*tokens*single token*");
        PromptPair.SingleToken(tokenizer, " Mary").Should().Be(5335);
        PromptPair.SingleToken(tokenizer, "#42").Should().Be(42);
    }

    [SkippableFact]
    public void NaN_activations_are_reported_not_propagated()
    {
        var model = Fixtures.Load("gpt2");
        using (no_grad())
            model.named_parameters().Single(p => p.name == "layers.0.attn.v_proj.bias").parameter[0] = tensor(float.NaN);
        var act = () => new AttributionEngine(model).Run([new PromptPair([1, 2, 3, 4], [1, 2, 5, 4], 7, 8)], Components.Heads(model.Config));
        act.Should().Throw<AttributionInputException>().WithMessage("*NaN*");
    }

    [Fact]
    public void Component_ids_round_trip_and_bad_ids_say_what_is_expected()
    {
        foreach (var id in new[] { "L3H5", "L2MLP", "L1N17", "L0R4", "L3H5Q", "L3H1K@7", "L0H2@3", "L2MLP@1" })
            Component.Parse(id).Id.Should().Be(id);
        ((Action)(() => Component.Parse("L3X5"))).Should().Throw<FormatException>().WithMessage("*L3X5*L{layer}H{head}*");
    }
}
