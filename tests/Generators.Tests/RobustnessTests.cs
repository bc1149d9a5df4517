using System.Text;
using CircuitDsl.Generators.Tests.Support;

namespace CircuitDsl.Generators.Tests;

/// <summary>Random attribute usages — random ints, strings, nulls, missing arguments — never make the generator throw.</summary>
public class RobustnessTests
{
    private static readonly string[] Strings = ["\"9.9\"", "\"\"", "null", "\"x.y\"", "\"-1.2\"", "\"1.2.3\"", "\"99999999999.1\"", "\"0.0\"", "\"{A}\"", "\"A\"", "\"config.json\""];

    [Fact]
    public void Five_hundred_random_hypotheses_never_crash_the_generator()
    {
        var random = new Random(2026);
        int diagnosticsSeen = 0;
        for (int i = 0; i < 500; i++)
        {
            string source = RandomSource(random);
            var outcome = GeneratorHarness.Run(source, ("config.json", random.Next(4) == 0 ? "{ not json" : GeneratorHarness.ToyConfig));
            outcome.GeneratorDiagnostics.Where(d => d.Id == "CDSL099").Should().BeEmpty($"internal failure on:\n{source}");
            outcome.Run.Results.Should().OnlyContain(r => r.Exception == null, source);
            diagnosticsSeen += outcome.GeneratorDiagnostics.Length;
        }
        diagnosticsSeen.Should().BeGreaterThan(100, "random usages are mostly wrong and must be reported, not ignored");
    }

    private static string RandomSource(Random r)
    {
        string Str() => Strings[r.Next(Strings.Length)];
        string Int() => r.Next(3) switch { 0 => r.Next(-3, 5).ToString(), 1 => int.MaxValue.ToString(), _ => r.Next(0, 3).ToString() };
        string Args(Func<string> item) => string.Join(", ", Enumerable.Range(0, r.Next(0, 4)).Select(_ => item()));
        var sb = new StringBuilder("using CircuitDsl;\nnamespace Fuzz;\n");
        sb.Append(r.Next(3) switch
        {
            0 => $"[ModelBinding({Str()})] public static partial class M;\n",
            1 => $"[ModelBinding(Family = {Str()}, Layers = {Int()}, Heads = {Int()}, KvHeads = {Int()}, Neurons = {Int()})] public static partial class M;\n",
            _ => "[ModelBinding(\"config.json\")] public static partial class M;\n",
        });
        sb.Append($"[Circuit(typeof({(r.Next(5) == 0 ? "string" : "M")}))]");
        if (r.Next(3) == 0) sb.Append($"[Edge({Str()}, {Str()})]");
        sb.Append($"public static {(r.Next(6) == 0 ? "" : "partial ")}class C {{\n");
        for (int g = 0; g < r.Next(0, 4); g++)
        {
            string attribute = r.Next(4) switch
            {
                0 => $"Heads({Args(Str)}{(r.Next(3) == 0 ? $", Patch = (PatchAt){Int()}" : "")})",
                1 => $"Mlps({Args(Int)})",
                2 => $"Neurons({Int()}{(r.Next(2) == 0 ? ", " + Args(Int) : "")})",
                _ => $"Residual({Int()}, {Int()}, Position = {Int()})",
            };
            sb.Append($"  [{attribute}] public static {(r.Next(6) == 0 ? "" : "partial ")}ComponentGroup G{g} {{ get; }}{(r.Next(6) == 0 ? " = null!;" : "")}\n");
        }
        sb.Append("}\n");
        if (r.Next(2) == 0)
        {
            sb.Append($"[Experiment(typeof(C), Tau = {r.NextDouble() * 3 - 1:F2}, K = {Int()}, IgSteps = {Int()}, Pairs = {Int()})]");
            if (r.Next(4) > 0) sb.Append($"[Template({Str()}, Answer = {Str()}, Wrong = {Str()})]");
            if (r.Next(2) == 0) sb.Append($"[Slot({Str()}, {Args(Str)})]");
            sb.Append(r.Next(4) switch
            {
                0 => $"[SwapSlot({Str()}, With = {Str()})]",
                1 => $"[RandomTokens({Args(Int)})]",
                2 => $"[CorruptWith({Str()})]",
                _ => "",
            });
            sb.Append("public static partial class E;\n");
        }
        return sb.ToString();
    }
}
