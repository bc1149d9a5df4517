using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Training;

public class ToyModelTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("induction")]
    [InlineData("ioi")]
    [InlineData("greater-than")]
    public void Training_is_deterministic_for_a_fixed_seed(string task)
    {
        var first = ToyTrainer.Train(ToyTask.Create(task), steps: 15, seed: 3, batch: 16).Model;
        var second = ToyTrainer.Train(ToyTask.Create(task), steps: 15, seed: 3, batch: 16).Model;
        var other = ToyTrainer.Train(ToyTask.Create(task), steps: 15, seed: 4, batch: 16).Model;
        var a = first.named_parameters().ToList();
        var b = second.named_parameters().ToList();
        for (int i = 0; i < a.Count; i++)
            a[i].parameter.allclose(b[i].parameter, rtol: 0, atol: 0).Should().BeTrue($"{a[i].name} is equal across runs");
        a.Any(p => !p.parameter.allclose(other.named_parameters().Single(q => q.name == p.name).parameter)).Should().BeTrue("another seed gives other weights");
    }

    [Theory]
    [InlineData(0, 16, "*at least one step*0*")]
    [InlineData(-1, 16, "*at least one step*-1*")]
    [InlineData(5, 0, "*at least one example*0*")]
    public void Training_without_steps_or_examples_is_refused_not_written_untrained(int steps, int batch, string message)
    {
        var act = () => ToyTrainer.Train(ToyTask.Create("ioi"), steps, batch: batch);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    [Fact]
    public void Generation_needs_at_least_one_step()
    {
        var model = ModelLoader.Load(RepoModels.Path("ioi"));
        var act = () => Generation.Generate(model, [1, 2], steps: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*must be ≥ 1*0*");
    }

    [Theory]
    [InlineData("induction")]
    [InlineData("ioi")]
    [InlineData("greater-than")]
    public void Committed_toy_models_load_and_solve_their_task(string task)
    {
        var model = ModelLoader.Load(RepoModels.Path(task));
        double accuracy = ToyTrainer.Accuracy(model, ToyTask.Create(task), seed: 99);
        output.WriteLine($"{task}: accuracy {accuracy:P2}");
        accuracy.Should().BeGreaterThan(0.95, "repeated symbols make a few induction targets ambiguous");
    }

    [Fact]
    public void Induction_model_circuit_found_by_patching_has_layer1_heads_that_look_back_into_the_first_copy()
    {
        var model = ModelLoader.Load(RepoModels.Path("induction"));
        var pairs = new InductionTask().Pairs(8, seed: 5);
        var result = new AttributionEngine(model, new AttributionOptions { Methods = Methods.Patching, ScreenFlagFix = false })
            .Run(pairs, Components.Heads(model.Config), "induction");
        var ranked = result.Components.OrderByDescending(c => Math.Abs(c.Patching!.Value)).ToList();
        output.WriteLine(string.Join(", ", ranked.Select(c => $"{c.Id} {c.Patching:F2}")));

        // Measured, not assumed: where each layer-1 head attends from the last position (the k-th token of the
        // repeat). The earlier occurrence of the current token is at p; a textbook induction head attends to p + 1.
        var firstCopy = new double[model.Config.Heads];
        var offsets = new List<int>[model.Config.Heads];
        for (int h = 0; h < offsets.Length; h++) offsets[h] = [];
        foreach (var pair in pairs)
        {
            using var _ = no_grad();
            var plan = new HookPlan(model.Config).Cache(new Site(SiteKind.AttnPattern, 1));
            model.Forward(ModelInput.Single(pair.Clean), plan);
            int last = pair.Clean.Count - 1;
            int previous = pair.Clean.Take(last).ToList().IndexOf(pair.Clean[last]);
            var row = plan[new Site(SiteKind.AttnPattern, 1)][0, .., last]; // [H, T]
            for (int h = 0; h < model.Config.Heads; h++)
            {
                firstCopy[h] += row[h].narrow(0, previous, last - previous).sum().item<float>() / pairs.Count;
                offsets[h].Add((int)row[h].argmax().item<long>() - previous);
            }
        }
        for (int h = 0; h < model.Config.Heads; h++)
            output.WriteLine($"L1H{h}: attention from the last position to the earlier occurrence and after: {firstCopy[h]:F2}; argmax − earlier occurrence: {string.Join(",", offsets[h])}");

        var lookBack = ranked.Take(4).Where(c => c.Component.Layer == 1 && firstCopy[c.Component.Index] > 0.5).ToList();
        lookBack.Should().NotBeEmpty("a top component by patching is a layer-1 head reading from the earlier occurrence onwards, as induction heads do");
    }
}
