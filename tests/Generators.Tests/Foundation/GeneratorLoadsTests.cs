using System.Collections.Immutable;
using CircuitDsl.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace CircuitDsl.Generators.Tests.Foundation;

/// <summary>The generator is built against Roslyn 4.14 and must run under the SDK's newer compiler.</summary>
public class GeneratorLoadsTests
{
    [Fact]
    public void Generated_source_for_a_circuit_compiles_without_diagnostics()
    {
        const string source = """
            namespace Demo;
            [CircuitDsl.Circuit("induction")]
            public partial class Induction { }
            public static class Use { public static string Name => Induction.CircuitName; }
            """;
        var compilation = CSharpCompilation.Create(
            "Demo",
            [CSharpSyntaxTree.ParseText(source)],
            Basic.References(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        GeneratorDriver driver = CSharpGeneratorDriver.Create(new CircuitGenerator());
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);

        generatorDiagnostics.Should().BeEmpty();
        output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Should().BeEmpty();
        driver.GetRunResult().GeneratedTrees.Should().ContainSingle()
            .Which.ToString().Should().Contain("public const string CircuitName = \"induction\";");
    }

    private static class Basic
    {
        public static ImmutableArray<MetadataReference> References()
        {
            var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
            return [.. trusted.Select(p => MetadataReference.CreateFromFile(p)),
                    MetadataReference.CreateFromFile(typeof(CircuitAttribute).Assembly.Location)];
        }
    }
}
