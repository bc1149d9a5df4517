using CircuitDsl.Generators.Tests.Support;
using Microsoft.CodeAnalysis;

namespace CircuitDsl.Generators.Tests;

/// <summary>
/// One test per diagnostic: the bad source reports exactly that ID at the marked span (between /*!*/ markers's
/// following token), and the fixed source reports nothing.
/// </summary>
public class DiagnosticTests
{
    private const string Header = """
        using CircuitDsl;
        namespace Demo;
        [ModelBinding("toy/config.json")]
        public static partial class Toy;

        """;

    public static TheoryData<string, string, string, string> Cases => new()
    {
        // id, bad source, text at the expected location, fixed source
        { "CDSL001", "[Circuit(typeof(Toy))] public static class C { }", "C", "[Circuit(typeof(Toy))] public static partial class C { }" },
        { "CDSL002", "[ModelBinding(\"missing/config.json\")] public static partial class Other;", "\"missing/config.json\"", "[ModelBinding(\"toy/config.json\")] public static partial class Other;" },
        { "CDSL004", "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.7\")] public static partial ComponentGroup G { get; } }", "\"1.7\"",
                     "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.3\")] public static partial ComponentGroup G { get; } }" },
        { "CDSL005", "[Circuit(typeof(Toy))] public static partial class C { [Mlps(0, Patch = PatchAt.Query)] public static partial ComponentGroup G { get; } }", "Patch = PatchAt.Query",
                     "[Circuit(typeof(Toy))] public static partial class C { [Mlps(0)] public static partial ComponentGroup G { get; } }" },
        { "CDSL006", "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"9.x\")] public static partial ComponentGroup G { get; } }", "\"9.x\"",
                     "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup G { get; } }" },
        { "CDSL007", "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup A { get; } [Heads(\"0.1\", \"1.0\")] public static partial ComponentGroup B { get; } }", "\"1.0\"\")]",
                     "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup A { get; } [Heads(\"0.1\")] public static partial ComponentGroup B { get; } }" },
        { "CDSL008", Experiment("[Template(\"{A} met {C}, then {B} left\", Answer = \"A\", Wrong = \"B\")]"), "\"{A} met {C}, then {B} left\"",
                     Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]") },
        { "CDSL009", "[Circuit(typeof(Toy))] [Edge(nameof(Late), nameof(Early))] public static partial class C { [Heads(\"0.1\")] public static partial ComponentGroup Early { get; } [Heads(\"1.0\")] public static partial ComponentGroup Late { get; } }", "Edge(nameof(Late), nameof(Early))",
                     "[Circuit(typeof(Toy))] [Edge(nameof(Early), nameof(Late))] public static partial class C { [Heads(\"0.1\")] public static partial ComponentGroup Early { get; } [Heads(\"1.0\")] public static partial ComponentGroup Late { get; } }" },
        { "CDSL014", "[Circuit(typeof(Toy))] [Edge(nameof(Early), nameof(Late), Via = PatchAt.Output)] public static partial class C { [Heads(\"0.1\")] public static partial ComponentGroup Early { get; } [Heads(\"1.0\")] public static partial ComponentGroup Late { get; } }", "Edge(nameof(Early), nameof(Late), Via = PatchAt.Output)",
                     "[Circuit(typeof(Toy))] [Edge(nameof(Early), nameof(Late), Via = PatchAt.Value)] public static partial class C { [Heads(\"0.1\")] public static partial ComponentGroup Early { get; } [Heads(\"1.0\")] public static partial ComponentGroup Late { get; } }" },
        { "CDSL010", Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", "Tau = 1.5"), "Tau = 1.5",
                     Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", "Tau = 0.5") },
        { "CDSL010", Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", "Method = Estimator.Patching, Fix = FixBy.SecondOrder"), "Fix = FixBy.SecondOrder",
                     Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", "Method = Estimator.Patching") },
        { "CDSL011", "public static class NotAModel { } [Circuit(typeof(NotAModel))] public static partial class C { }", "typeof(NotAModel)",
                     "public static class NotAModel { } [Circuit(typeof(Toy))] public static partial class C { }" },
        { "CDSL012", "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.0\")] public static ComponentGroup G { get; } = null!; }", "G",
                     "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup G { get; } }" },
        { "CDSL013", Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", perturbation: ""), "E",
                     Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]") },
        { "CDSL015", Experiment("[Template(\"{A} met {B}, then {B} left\")] [AnswerSets(\"Sets\")]", body: " { static string[] Sets(System.Collections.Generic.IReadOnlyDictionary<string, string> slots) => new[] { slots[\"A\"] }; }"), "\"Sets\"",
                     Experiment("[Template(\"{A} met {B}, then {B} left\")] [AnswerSets(\"Sets\")]", body: AnswerSets) },
    };

    // Answers: the slot A's name; wrong tokens: every other name.
    private const string AnswerSets = """
         { static (string[] Answers, string[] Wrongs) Sets(System.Collections.Generic.IReadOnlyDictionary<string, string> slots) =>
             (new[] { slots["A"] }, slots["A"] == "Mary" ? new[] { "John" } : new[] { "Mary" }); }
        """;

    private static string Experiment(string template, string settings = "Pairs = 4", string perturbation = "[SwapSlot(\"B\", With = \"A\")]", string body = ";") => $$"""
        [Circuit(typeof(Toy))] public static partial class C { [Heads("1.0")] public static partial ComponentGroup G { get; } }
        [Experiment(typeof(C), {{settings}})]
        {{template}}
        [Slot("A", "Mary", "John")] [Slot("B", "Mary", "John")]
        {{perturbation}}
        public static partial class E{{body}}
        """;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_source_reports_exactly_its_id_at_the_right_place_and_the_fix_reports_nothing(string id, string bad, string at, string fixedSource)
    {
        var config = ("/repo/toy/config.json", GeneratorHarness.ToyConfig);
        var outcome = GeneratorHarness.Run(Header + bad, config);
        var cdsl = outcome.GeneratorDiagnostics.Where(d => d.Id.StartsWith("CDSL", StringComparison.Ordinal)).ToList();
        cdsl.Select(d => d.Id).Should().Equal([id], string.Join("; ", cdsl));
        var diagnostic = cdsl[0];
        diagnostic.Severity.Should().Be(DiagnosticSeverity.Error);
        string source = Header + bad;
        int expectedStart = id == "CDSL007" ? source.LastIndexOf("\"1.0\"", StringComparison.Ordinal)
            : id is "CDSL001" or "CDSL013" ? source.IndexOf(" " + at + " ", StringComparison.Ordinal) + 1 is var p && p > 0 ? p : source.IndexOf(" " + at + ";", StringComparison.Ordinal) + 1
            : id == "CDSL012" ? source.IndexOf(" G {", StringComparison.Ordinal) + 1
            : source.IndexOf(at, StringComparison.Ordinal);
        diagnostic.Location.SourceSpan.Start.Should().Be(expectedStart, $"{id} points at '{at}': {diagnostic}");

        GeneratorHarness.Run(Header + fixedSource, config).AllDiagnostics.Should().BeEmpty();
    }

    [Fact]
    public void An_edge_from_attention_to_the_same_layers_MLP_follows_causal_order()
    {
        var outcome = GeneratorHarness.Run(Header + "[Circuit(typeof(Toy))] [Edge(nameof(H), nameof(M))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup H { get; } [Mlps(1)] public static partial ComponentGroup M { get; } }",
            ("toy/config.json", GeneratorHarness.ToyConfig));
        outcome.AllDiagnostics.Should().BeEmpty();
        var backwards = GeneratorHarness.Run(Header + "[Circuit(typeof(Toy))] [Edge(nameof(M), nameof(H))] public static partial class C { [Heads(\"1.0\")] public static partial ComponentGroup H { get; } [Mlps(1)] public static partial ComponentGroup M { get; } }",
            ("toy/config.json", GeneratorHarness.ToyConfig));
        backwards.GeneratorDiagnostics.Single().GetMessage().Should().Contain("layer 1's attention does not come after layer 1's MLP");
    }

    [Theory]
    [InlineData("Pairs = 4, Metric = Metric.LogProbability", null)]
    [InlineData("Pairs = 4, Metric = Metric.ProbabilityDifference", "(none)")]
    [InlineData("Pairs = 4", "(none)")]
    public void Only_the_log_probability_needs_no_wrong_slot(string settings, string? missing)
    {
        var outcome = GeneratorHarness.Run(Header + Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\")]", settings), ("/repo/toy/config.json", GeneratorHarness.ToyConfig));
        var cdsl = outcome.GeneratorDiagnostics.Where(d => d.Id.StartsWith("CDSL", StringComparison.Ordinal)).ToList();
        if (missing is null)
        {
            cdsl.Should().BeEmpty();
            outcome.Run.GeneratedTrees.Should().Contain(t => t.ToString().Contains("metric: global::CircuitDsl.Metric.LogProbability"));
            outcome.AllDiagnostics.Should().BeEmpty("the generated plan compiles");
        }
        else cdsl.Should().ContainSingle(d => d.Id == "CDSL008").Which.GetMessage().Should().Contain(missing).And.Contain("Wrong");
    }

    [Theory]
    [InlineData("Metric = Metric.KlDivergence", null)]
    [InlineData("Metric = Metric.LogProbability", "Answer")]
    public void The_kl_divergence_needs_neither_an_answer_nor_a_wrong_slot(string settings, string? missing)
    {
        var outcome = GeneratorHarness.Run(Header + Experiment("[Template(\"{A} met {B}, then {B} left\")]", "Pairs = 4, " + settings), ("/repo/toy/config.json", GeneratorHarness.ToyConfig));
        var cdsl = outcome.GeneratorDiagnostics.Where(d => d.Id.StartsWith("CDSL", StringComparison.Ordinal)).ToList();
        if (missing is null)
        {
            cdsl.Should().BeEmpty();
            outcome.Run.GeneratedTrees.Should().Contain(t => t.ToString().Contains("metric: global::CircuitDsl.Metric.KlDivergence"));
            outcome.AllDiagnostics.Should().BeEmpty("the generated plan compiles");
        }
        else cdsl.Should().ContainSingle(d => d.Id == "CDSL008").Which.GetMessage().Should().Contain(missing);
    }

    [Fact]
    public void Answer_sets_replace_the_answer_and_wrong_slots_and_are_emitted_into_the_plan()
    {
        var sets = GeneratorHarness.Run(Header + Experiment("[Template(\"{A} met {B}, then {B} left\")] [AnswerSets(\"Sets\")]", body: AnswerSets), ("/repo/toy/config.json", GeneratorHarness.ToyConfig));
        sets.AllDiagnostics.Should().BeEmpty();
        sets.Run.GeneratedTrees.Should().Contain(t => t.ToString().Contains("answerSets: Sets,"));
        var both = GeneratorHarness.Run(Header + Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")] [AnswerSets(\"Sets\")]", body: AnswerSets),
            ("/repo/toy/config.json", GeneratorHarness.ToyConfig));
        both.GeneratorDiagnostics.Should().ContainSingle(d => d.Id == "CDSL015").Which.GetMessage().Should().Contain("keep one");
    }

    [Fact]
    public void The_second_order_fix_is_emitted_into_the_plan()
    {
        var outcome = GeneratorHarness.Run(Header + Experiment("[Template(\"{A} met {B}, then {B} left\", Answer = \"A\", Wrong = \"B\")]", "Fix = FixBy.SecondOrder"),
            ("/repo/toy/config.json", GeneratorHarness.ToyConfig));
        outcome.AllDiagnostics.Should().BeEmpty("the generated plan compiles");
        outcome.Run.GeneratedTrees.Should().Contain(t => t.ToString().Contains("fix: global::CircuitDsl.FixBy.SecondOrder)"));
    }

    [Theory]
    [InlineData("[Edge(nameof(H), nameof(M), Via = PatchAt.Key)]", "[Heads(\"0.0\")]", "[Mlps(1)]", "an MLP has no key input")]
    [InlineData("[Edge(nameof(H), nameof(M))]", "[Heads(\"0.0\")]", "[Heads(\"1.2\", Patch = PatchAt.Query)]", "'M' holds 1.2 (patched at an input; say the input with Via instead)")]
    [InlineData("[Edge(nameof(H), nameof(M))]", "[Neurons(0, 3)]", "[Heads(\"1.2\")]", "edges connect whole heads and MLPs, but 'H' holds")]
    [InlineData("[Edge(nameof(H), EdgeEnd.Logits, Via = PatchAt.Key)]", "[Heads(\"0.0\")]", "[Mlps(1)]", "the logits have no key input")]
    [InlineData("[Edge(nameof(H), EdgeEnd.Logits)]", "[Neurons(0, 3)]", "[Mlps(1)]", "edges connect whole heads and MLPs, but 'H' holds")]
    [InlineData("[Edge(EdgeEnd.Embedding, nameof(M), Via = PatchAt.Value)]", "[Heads(\"0.0\")]", "[Mlps(1)]", "an MLP has no value input")]
    [InlineData("[Edge(EdgeEnd.Embedding, nameof(H), Via = PatchAt.Output)]", "[Heads(\"0.0\")]", "[Mlps(1)]", "a head takes an edge through its query, key or value")]
    public void An_edge_that_edge_patching_cannot_measure_says_why(string edge, string sender, string receiver, string message)
    {
        var outcome = GeneratorHarness.Run(Header + $"[Circuit(typeof(Toy))] {edge} public static partial class C {{ {sender} public static partial ComponentGroup H {{ get; }} {receiver} public static partial ComponentGroup M {{ get; }} }}",
            ("toy/config.json", GeneratorHarness.ToyConfig));
        var diagnostic = outcome.GeneratorDiagnostics.Single();
        diagnostic.Id.Should().Be("CDSL014");
        diagnostic.GetMessage().Should().Contain(message);
    }

    [Theory]
    [InlineData("[Edge(EdgeEnd.Embedding, nameof(H))] [Edge(EdgeEnd.Embedding, nameof(M))] [Edge(nameof(H), EdgeEnd.Logits)] [Edge(nameof(M), EdgeEnd.Logits)] [Edge(EdgeEnd.Embedding, EdgeEnd.Logits)]", null)]
    [InlineData("[Edge(EdgeEnd.Logits, nameof(H))]", "the logits come after everything, so they only receive")]
    [InlineData("[Edge(nameof(M), EdgeEnd.Embedding)]", "the embedding comes before everything, so it only sends")]
    [InlineData("[Edge(nameof(H), \"Nope\")]", "'Nope' is not a group of this circuit (nor EdgeEnd.Embedding, which sends, or EdgeEnd.Logits, which receives)")]
    public void The_embedding_only_sends_and_the_logits_only_receive(string edges, string? message)
    {
        var outcome = GeneratorHarness.Run(Header + $"[Circuit(typeof(Toy))] {edges} public static partial class C {{ [Heads(\"1.0\")] public static partial ComponentGroup H {{ get; }} [Mlps(0)] public static partial ComponentGroup M {{ get; }} }}",
            ("toy/config.json", GeneratorHarness.ToyConfig));
        if (message is null)
        {
            outcome.AllDiagnostics.Should().BeEmpty();
            return;
        }
        var diagnostic = outcome.GeneratorDiagnostics.Single();
        diagnostic.Id.Should().Be("CDSL009");
        diagnostic.GetMessage().Should().Contain(message);
    }

    [Fact]
    public void Invalid_config_json_and_unknown_families_are_reported()
    {
        const string source = "[CircuitDsl.ModelBinding(\"bad/config.json\")] public static partial class M;";
        GeneratorHarness.Run(source, ("bad/config.json", "{ \"model_type\": ")).GeneratorDiagnostics.Select(d => d.Id).Should().Equal("CDSL003");
        var unknown = GeneratorHarness.Run(source, ("bad/config.json", "{ \"model_type\": \"mamba\" }")).GeneratorDiagnostics.Single();
        unknown.Id.Should().Be("CDSL003");
        unknown.GetMessage().Should().Contain("mamba").And.Contain("gpt2");
    }

    [Fact]
    public void Key_heads_are_checked_against_key_value_heads_and_mlps_against_attention_only_models()
    {
        var gqa = GeneratorHarness.Run(Header + "[Circuit(typeof(Toy))] public static partial class C { [Heads(\"1.3\", Patch = PatchAt.Key)] public static partial ComponentGroup G { get; } }",
            ("toy/config.json", GeneratorHarness.ToyConfig));
        gqa.GeneratorDiagnostics.Single().GetMessage().Should().Contain("key/value heads are 0..1");
        var attentionOnly = GeneratorHarness.Run("""
            using CircuitDsl;
            [ModelBinding(Family = "llama", Layers = 2, Heads = 4, AttentionOnly = true)] public static partial class A;
            [Circuit(typeof(A))] public static partial class C { [Mlps(1)] public static partial ComponentGroup G { get; } }
            """);
        attentionOnly.GeneratorDiagnostics.Single().Id.Should().Be("CDSL005");
    }
}
