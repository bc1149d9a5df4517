using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Models;

namespace CircuitDsl.Testing;

/// <summary>A circuit claim to test: its components, chosen from a universe, evaluated by ablating the rest.</summary>
public sealed class CircuitUnderTest
{
    /// <summary>Creates the claim.</summary>
    public CircuitUnderTest(string name, IReadOnlyList<Component> components, Faithfulness faithfulness)
    {
        Name = name;
        Components = components;
        Faithfulness = faithfulness;
    }

    /// <summary>A generated circuit's groups as a claim on <paramref name="model"/>, with heads and MLPs as the universe.</summary>
    public static CircuitUnderTest From(string name, IEnumerable<ComponentGroup> groups, HookedTransformer model, IReadOnlyList<PromptPair> pairs, Ablation ablation = Ablation.Corrupted)
    {
        var universe = Runtime.Attribution.Components.Heads(model.Config).Concat(Runtime.Attribution.Components.Mlps(model.Config)).ToList();
        var components = groups.SelectMany(g => g.Components).Select(ExperimentRunner.ToComponent).ToList();
        foreach (var c in components.Where(c => universe.All(u => u.Id != c.Id))) universe.Add(c);
        return new CircuitUnderTest(name, components, new Faithfulness(model, pairs, universe, ablation));
    }

    /// <summary>Display name.</summary>
    public string Name { get; }

    /// <summary>The claimed components.</summary>
    public IReadOnlyList<Component> Components { get; }

    /// <summary>The faithfulness evaluator.</summary>
    public Faithfulness Faithfulness { get; }

    /// <summary>f(circuit).</summary>
    public double Score => Faithfulness.Of(Components);
}
