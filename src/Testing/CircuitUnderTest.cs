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

    /// <summary>
    /// A generated circuit's groups as a claim on <paramref name="model"/>, with heads and MLPs as the universe; with
    /// <paramref name="edges"/> (the generated <c>Edges</c>), its edges can be asserted too. Faithfulness and edges
    /// measure <paramref name="metric"/> (a generated plan's is <c>ExperimentRunner.ToMetricKind(Plan.Metric)</c>).
    /// </summary>
    public static CircuitUnderTest From(string name, IEnumerable<ComponentGroup> groups, HookedTransformer model, IReadOnlyList<PromptPair> pairs,
        Ablation ablation = Ablation.Corrupted, IReadOnlyList<CircuitEdge>? edges = null, MetricKind metric = MetricKind.LogitDifference)
    {
        var groupList = groups.ToList();
        var universe = Runtime.Attribution.Components.Heads(model.Config).Concat(Runtime.Attribution.Components.Mlps(model.Config)).ToList();
        var components = groupList.SelectMany(g => g.Components).Select(ExperimentRunner.ToComponent).ToList();
        foreach (var c in components.Where(c => universe.All(u => u.Id != c.Id))) universe.Add(c);
        return new CircuitUnderTest(name, components, new Faithfulness(model, pairs, universe, ablation, metric))
        {
            Groups = groupList,
            Edges = edges ?? [],
            _edgePatching = edges is { Count: > 0 } ? new EdgePatching(model, pairs, metric) : null,
        };
    }

    private EdgePatching? _edgePatching;
    private readonly Dictionary<(string, string, PatchAt), EdgeEffect> _edgeEffects = [];

    /// <summary>Display name.</summary>
    public string Name { get; }

    /// <summary>The claimed components.</summary>
    public IReadOnlyList<Component> Components { get; }

    /// <summary>The faithfulness evaluator.</summary>
    public Faithfulness Faithfulness { get; }

    /// <summary>f(circuit).</summary>
    public double Score => Faithfulness.Of(Components);

    /// <summary>The circuit's named groups (empty when built from components).</summary>
    public IReadOnlyList<ComponentGroup> Groups { get; private init; } = [];

    /// <summary>The circuit's declared edges between groups.</summary>
    public IReadOnlyList<CircuitEdge> Edges { get; private init; } = [];

    /// <summary>
    /// The effect of the edge between two of its groups entering the receivers through <paramref name="via"/>
    /// (by path patching, <see cref="EdgePatching"/>); measured once per claim.
    /// </summary>
    public EdgeEffect EdgeEffect(string sender, string receiver, PatchAt via)
    {
        if (_edgePatching is null) throw new InvalidOperationException($"{Name} was built without edges: pass the generated Edges to CircuitUnderTest.From.");
        if (!_edgeEffects.TryGetValue((sender, receiver, via), out var effect))
            _edgeEffects[(sender, receiver, via)] = effect = _edgePatching.Of(new CircuitEdge(sender, receiver, via), Groups);
        return effect;
    }
}
