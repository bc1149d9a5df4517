using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace CircuitDsl.Generators.Tests.Support;

/// <summary>Runs the CircuitDsl generator over in-memory sources and AdditionalFiles, as the compiler would.</summary>
public static class GeneratorHarness
{
    public sealed record Outcome(GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriver Driver)
    {
        /// <summary>CDSL diagnostics, and C# errors and warnings of the compilation with generated code.</summary>
        public IEnumerable<Diagnostic> AllDiagnostics =>
            GeneratorDiagnostics.Concat(Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));

        public string Generated(string hintNameEnd) =>
            Run.GeneratedTrees.Single(t => t.FilePath.EndsWith(hintNameEnd, StringComparison.Ordinal)).ToString();
    }

    public const string Gpt2Config = """
        { "model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "vocab_size": 50257 }
        """;

    public const string ToyConfig = """
        { "model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "hidden_size": 32, "intermediate_size": 64, "attention_only": false }
        """;

    public static Outcome Run(string source, params (string Path, string Text)[] files) => Run([source], files);

    public static Outcome Run(IEnumerable<string> sources, IEnumerable<(string Path, string Text)> files, GeneratorDriver? driver = null)
    {
        var compilation = Compile(sources);
        driver ??= CSharpGeneratorDriver.Create(
            [new CircuitGenerator().AsSourceGenerator()],
            files.Select(f => (AdditionalText)new InMemoryText(f.Path, f.Text)),
            (CSharpParseOptions)compilation.SyntaxTrees.First().Options,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return new Outcome(driver.GetRunResult(), output, diagnostics, driver);
    }

    public static CSharpCompilation Compile(IEnumerable<string> sources) => CSharpCompilation.Create(
        "Hypotheses",
        sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Preview), path: $"Source{i}.cs")),
        References.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
            generalDiagnosticOption: ReportDiagnostic.Error));

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    [
        .. ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Select(p => MetadataReference.CreateFromFile(p)),
        MetadataReference.CreateFromFile(typeof(ModelShape).Assembly.Location),
    ]);

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}
