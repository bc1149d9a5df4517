using CircuitDsl.Generators.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace CircuitDsl.Generators.Tests;

/// <summary>Editing a file unrelated to circuits leaves every tracked step cached: the IDE stays fast.</summary>
public class IncrementalTests
{
    [Fact]
    public void Editing_an_unrelated_file_leaves_every_tracked_step_cached_or_unchanged()
    {
        const string unrelated = "namespace Demo; public static class Helper { public static int Value => 1; }";
        var config = ("config.json", GeneratorHarness.ToyConfig);
        var first = GeneratorHarness.Run([SnapshotTests.ExperimentSource, unrelated], [config]);
        first.AllDiagnostics.Should().BeEmpty();

        var compilation = first.Output.RemoveSyntaxTrees(first.Output.SyntaxTrees.Where(t => t.FilePath.Contains("CircuitGenerator", StringComparison.Ordinal)));
        var old = compilation.SyntaxTrees.Single(t => t.ToString().Contains("Helper", StringComparison.Ordinal));
        var edited = compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(unrelated.Replace("=> 1", "=> 2"), (CSharpParseOptions)old.Options, old.FilePath));
        var second = first.Driver.RunGenerators(edited).GetRunResult().Results.Single();

        string[] tracked = [TrackingNames.Bindings, TrackingNames.ConfigFiles, TrackingNames.Models, TrackingNames.Circuits,
            TrackingNames.ValidatedCircuits, TrackingNames.Experiments, TrackingNames.ValidatedExperiments];
        foreach (var name in tracked)
        {
            second.TrackedSteps.Should().ContainKey(name);
            var reasons = second.TrackedSteps[name].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
            reasons.Should().NotBeEmpty(name).And.OnlyContain(r => r == IncrementalStepRunReason.Cached || r == IncrementalStepRunReason.Unchanged, name);
        }
        second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs)
            .Should().OnlyContain(o => o.Reason == IncrementalStepRunReason.Cached || o.Reason == IncrementalStepRunReason.Unchanged, "no source is regenerated");
    }
}
