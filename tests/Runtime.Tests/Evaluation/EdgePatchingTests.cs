using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Evaluation;

public class EdgePatchingTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, PatchAt> FamiliesAndEdges()
    {
        var data = new TheoryData<string, string, PatchAt>();
        foreach (string family in new[] { "gpt2", "gpt-neox", "llama", "qwen2", "gemma2" })
            foreach (var (sender, via) in new[] { ("heads", PatchAt.Query), ("heads", PatchAt.Key), ("mlp", PatchAt.Value) })
                data.Add(family, sender, via);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(FamiliesAndEdges))]
    public void An_edge_from_everything_a_layer_writes_equals_replacing_that_output_and_reading_the_receivers_input_synthetic_weights(string family, string sender, PatchAt via)
    {
        // Independent route: when the senders are a whole layer's heads (or its MLP), the clean run with that output
        // replaced by the corrupted one (and, for heads, the MLP after them held clean) carries exactly δ into the
        // next layer's inputs.
        var model = Fixtures.Load(family);
        var pair = SwappedPair(model, 9);
        var senders = sender == "heads" ? Components.Heads(model.Config).Where(h => h.Layer == 0).ToList() : [new Component(ComponentKind.Mlp, 0)];
        var receivers = Components.Heads(model.Config).Where(h => h.Layer == 1).ToList();
        var written = new Site(sender == "heads" ? SiteKind.AttnOut : SiteKind.MlpOut, 0);
        var read = new Site(via switch { PatchAt.Query => SiteKind.AttnQ, PatchAt.Key => SiteKind.AttnK, _ => SiteKind.AttnV }, 1);

        double expected;
        using (no_grad())
        {
            var clean = ModelInput.Single(pair.Clean);
            var metric = new AnswerMetric(pair.Answer, pair.Wrong);
            var mlp = new Site(SiteKind.MlpOut, 0);
            var corrupted = new HookPlan(model.Config).Cache(written);
            model.Forward(ModelInput.Single(pair.Corrupted), corrupted);
            var cleanMlp = new HookPlan(model.Config).Cache(mlp);
            model.Forward(clean, cleanMlp);
            var rerouted = new HookPlan(model.Config).Add(new Replace(written, corrupted[written])).Cache(read);
            if (written != mlp) rerouted.Add(new Replace(mlp, cleanMlp[mlp]));
            model.Forward(clean, rerouted);
            var patched = new HookPlan(model.Config).Add(new Replace(read, rerouted[read]));
            expected = (metric.Measure(model, clean, patched) - metric.Measure(model, clean)).item<float>();
        }

        var edge = new EdgePatching(model, [pair]).Measure(senders, receivers, via);
        output.WriteLine($"{family} {sender} → L1 {via}: {edge}");
        edge.Effect.Should().BeApproximately(expected, 1e-4 + 1e-4 * Math.Abs(expected));
        Math.Abs(edge.Effect).Should().BeGreaterThan(1e-6, "the edge moves the metric, so the comparison means something");
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures.Families), MemberType = typeof(Fixtures))]
    public void Everything_that_writes_the_stream_sent_into_the_logits_together_moves_the_whole_gap_synthetic_weights(string family)
    {
        // The stream after the last layer is the embedding plus every attention and MLP output (biases are constants),
        // so their changes together, sent straight into the final norm, are the corrupted run's whole change there.
        var model = Fixtures.Load(family);
        var pair = SwappedPair(model, 9);
        List<Component> senders = [new(ComponentKind.Embedding, 0), .. Components.Heads(model.Config), .. Components.Mlps(model.Config)];
        var edge = new EdgePatching(model, [pair]).Measure(senders, [new Component(ComponentKind.Logits, 0)]);
        output.WriteLine($"{family}: {edge}");
        edge.Effect.Should().BeApproximately(edge.Gap, 1e-4 + 1e-4 * Math.Abs(edge.Gap));
        edge.Input.Should().Be("input");
        Math.Abs(edge.Gap).Should().BeGreaterThan(1e-6, "the pair moves the metric, so the comparison means something");

        // One head's direct effect is a part of it, and the embedding at a position where the prompts agree sends nothing.
        var patching = new EdgePatching(model, [pair]);
        patching.Measure([new Component(ComponentKind.Embedding, 0, Position: 0)], [new Component(ComponentKind.Logits, 0)]).Effect.Should().BeApproximately(0, 1e-5);
        patching.Invoking(x => x.Measure([new Component(ComponentKind.Head, 0, 0)], [new Component(ComponentKind.Logits, 0)], PatchAt.Key))
            .Should().Throw<AttributionInputException>().WithMessage("*logits has no key input*");
    }

    [SkippableFact]
    public void A_key_edge_on_a_grouped_query_model_reaches_the_key_value_head_every_query_head_of_its_group_shares_synthetic_weights()
    {
        var model = Fixtures.Load("llama");
        model.Config.KvHeads.Should().BeLessThan(model.Config.Heads, "the fixture groups its query heads");
        int group = model.Config.Heads / model.Config.KvHeads;
        var pair = SwappedPair(model, 9);
        var senders = Components.Heads(model.Config).Where(h => h.Layer == 0).ToList();
        var patching = new EdgePatching(model, [pair]);
        // Query heads 0 and group − 1 share key/value head 0: as receivers of a key edge they are the same receiver.
        var first = patching.Measure(senders, [new Component(ComponentKind.Head, 1, 0)], PatchAt.Key);
        var last = patching.Measure(senders, [new Component(ComponentKind.Head, 1, group - 1)], PatchAt.Key);
        last.Effect.Should().Be(first.Effect);
        patching.Measure(senders, [new Component(ComponentKind.Key, 1, 0)]).Effect.Should().Be(first.Effect, "the key head named as the receiver is the same input");
        patching.Measure(senders, [new Component(ComponentKind.Head, 1, group - 1)], PatchAt.Query).Effect.Should().NotBe(first.Effect);
    }

    [Fact]
    public void The_induction_toys_layer_1_heads_find_the_earlier_copy_through_their_keys_and_read_the_next_token_through_their_values()
    {
        // The textbook mechanism (Olsson et al. 2022), measured on our trained toy: a layer-0 head writes "the token
        // before me" at each position, where the induction head's key finds it; the token after the earlier copy
        // reaches the induction head's value. So swapping that token (the task's pairs) is carried by the value edge,
        // and breaking the match — the token before it in the earlier copy changed — by the key edge.
        var model = ModelLoader.Load(RepoModels.Path("induction"));
        var swapped = new InductionTask().Pairs(8, seed: 5);
        var unmatched = swapped.Select(p =>
        {
            int next = Array.IndexOf(p.Clean.ToArray(), p.Answer); // the earlier copy of the answer
            var corrupted = p.Clean.ToArray();
            corrupted[next - 1] = p.Wrong;
            return new PromptPair(p.Clean, corrupted, p.Answer, p.Wrong);
        }).ToList();
        var layer0 = Components.Heads(model.Config).Where(h => h.Layer == 0).ToList();
        var layer1 = Components.Heads(model.Config).Where(h => h.Layer == 1).ToList();
        EdgeEffect Edge(IReadOnlyList<PromptPair> pairs, PatchAt via) => new EdgePatching(model, pairs).Measure(layer0, layer1, via);

        var (swapKey, swapValue) = (Edge(swapped, PatchAt.Key), Edge(swapped, PatchAt.Value));
        var (matchKey, matchValue) = (Edge(unmatched, PatchAt.Key), Edge(unmatched, PatchAt.Value));
        output.WriteLine($"next token swapped:\n  {swapKey}\n  {swapValue}\n  {Edge(swapped, PatchAt.Query)}");
        output.WriteLine($"match broken:\n  {matchKey}\n  {matchValue}\n  {Edge(unmatched, PatchAt.Query)}");
        swapValue.Fraction.Should().BeGreaterThan(0.5);
        Math.Abs(swapKey.Fraction).Should().BeLessThan(0.1);
        matchKey.Fraction.Should().BeGreaterThan(0.4);
        Math.Abs(matchValue.Fraction).Should().BeLessThan(matchKey.Fraction / 3);
    }

    [Fact]
    public void Pairs_batched_by_length_give_the_mean_of_each_pair_alone()
    {
        var model = ModelLoader.Load(RepoModels.Path("induction"));
        var pairs = new InductionTask().Pairs(6, seed: 7);
        pairs.Select(p => p.Clean.Count).Distinct().Should().HaveCountGreaterThan(1, "the batches split by length");
        var layer0 = Components.Heads(model.Config).Where(h => h.Layer == 0).ToList();
        var layer1 = Components.Heads(model.Config).Where(h => h.Layer == 1).ToList();
        var together = new EdgePatching(model, pairs).Measure(layer0, layer1, PatchAt.Value);
        var alone = pairs.Select(p => new EdgePatching(model, [p]).Measure(layer0, layer1, PatchAt.Value)).ToList();
        together.Effect.Should().BeApproximately(alone.Average(x => x.Effect), 1e-4);
        together.Gap.Should().BeApproximately(alone.Average(x => x.Gap), 1e-4);
    }

    [Fact]
    public void Edges_against_the_forward_order_or_into_the_wrong_input_are_typed_errors()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var patching = new EdgePatching(model, [SwappedPair(model, 8)]);
        var l0h0 = new Component(ComponentKind.Head, 0, 0);
        var l1h0 = new Component(ComponentKind.Head, 1, 0);
        var mlp0 = new Component(ComponentKind.Mlp, 0);
        patching.Invoking(p => p.Measure([l1h0], [l0h0])).Should().Throw<AttributionInputException>().WithMessage("*L1H0 → L0H0*earlier*");
        patching.Invoking(p => p.Measure([l0h0], [new Component(ComponentKind.Head, 0, 1)])).Should().Throw<AttributionInputException>().WithMessage("*L0H0 → L0H1*");
        patching.Invoking(p => p.Measure([mlp0], [l1h0], PatchAt.Output)).Should().Throw<AttributionInputException>().WithMessage("*query, key or value*");
        patching.Invoking(p => p.Measure([l0h0], [mlp0], PatchAt.Key)).Should().Throw<AttributionInputException>().WithMessage("*L0MLP has no key input*enters an MLP through its input*");
        patching.Invoking(p => p.Measure([new Component(ComponentKind.Neuron, 0, 3)], [l1h0])).Should().Throw<AttributionInputException>().WithMessage("*heads and MLPs*L0N3*");
        patching.Invoking(p => p.Measure([l0h0], [new Component(ComponentKind.Head, 9, 0)])).Should().Throw<SiteOutOfRangeException>();
        patching.Invoking(p => p.Measure([], [l1h0])).Should().Throw<AttributionInputException>();
        patching.Invoking(p => p.Measure([mlp0, mlp0], [l1h0])).Should().Throw<AttributionInputException>().WithMessage("*L0MLP is listed twice*");
        // A head's output reaches its own layer's MLP, which reads after the heads.
        patching.Measure([l0h0], [mlp0]).Effect.Should().NotBe(0);
    }

    [Fact]
    public void A_declared_edge_is_measured_by_its_groups_names()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var pair = SwappedPair(model, 8);
        ComponentGroup[] groups = [new("Early", [new ComponentRef(ComponentKind.Head, 0, 1, -1)]), new("Late", [new ComponentRef(ComponentKind.Mlp, 1, 0, -1)])];
        var patching = new EdgePatching(model, [pair]);
        var declared = patching.Of(new CircuitEdge("Early", "Late", PatchAt.Query), groups);
        declared.Sender.Should().Be("Early");
        declared.Effect.Should().Be(patching.Measure([new Component(ComponentKind.Head, 0, 1)], [new Component(ComponentKind.Mlp, 1)]).Effect);
        patching.Invoking(p => p.Of(new CircuitEdge("Early", "Nowhere", PatchAt.Query), groups)).Should().Throw<AttributionInputException>().WithMessage("*'Nowhere'*Early, Late*");
    }

    // Clean and corrupted differ in one token, near the end: within reach of the last position even through Gemma-2's
    // 4-token sliding window (a change layer 0 cannot carry to the last position leaves its queries there clean).
    internal static PromptPair SwappedPair(HookedTransformer model, int length)
    {
        var clean = Fixtures.Tokens(model, length, 1);
        var corrupted = clean.ToArray();
        corrupted[length - 3] = (corrupted[length - 3] + 1) % model.Config.VocabSize;
        return new PromptPair(clean, corrupted, 1, 2);
    }
}
