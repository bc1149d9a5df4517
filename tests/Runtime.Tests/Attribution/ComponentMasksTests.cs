using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tests.Support;
using FluentAssertions;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Attribution;

/// <summary>The engine's index masks against dense masks, for every kind of component (synthetic-weight qwen2 fixture).</summary>
public class ComponentMasksTests
{
    private const int Positions = 5;

    // Every kind of component, with and without a position, on a model with grouped KV heads (qwen2: 4 heads, 2 KV heads).
    private static IReadOnlyList<Component> Everything(ModelConfig c) =>
    [
        .. Components.Heads(c), .. Components.Mlps(c), .. Components.HeadsPerPosition(c, Positions), .. Components.QueryKeyValue(c),
        new Component(ComponentKind.Neuron, 0, 3), new Component(ComponentKind.Neuron, 1, c.Intermediate - 1, Position: 2),
        new Component(ComponentKind.Residual, 1, 4), new Component(ComponentKind.Mlp, 0, 0, Position: 0),
    ];

    [SkippableFact]
    public void Flat_indices_select_what_the_site_mask_selects_for_every_kind_of_component()
    {
        var c = Fixtures.Load("qwen2").Config;
        foreach (var component in Everything(c))
        {
            var shape = new long[] { 1 }.Concat(component.Site.Shape(c, Positions)).ToArray();
            int? position = component.Kind == ComponentKind.Residual ? component.Index : component.Position;
            var expected = SiteMask.Select(component.Site, shape, CPU, positions: position is int p ? [p] : null,
                heads: component.Kind is ComponentKind.Head or ComponentKind.Query or ComponentKind.Key or ComponentKind.Value ? [component.Index] : null)[0];
            if (component.Kind == ComponentKind.Neuron)
                expected = expected & (arange(c.Intermediate) == component.Index);
            var mask = component.Mask(c, Positions, CPU);
            Same(mask.to_type(ScalarType.Bool), expected).Should().BeTrue(component.Id);
            component.FlatIndices(c, Positions).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        }
    }

    [SkippableFact]
    public void Components_outside_the_model_or_the_prompt_are_refused()
    {
        var c = Fixtures.Load("qwen2").Config;
        foreach (var outside in new[] { new Component(ComponentKind.Head, 0, c.Heads), new Component(ComponentKind.Key, 0, c.KvHeads),
                     new Component(ComponentKind.Neuron, 0, c.Intermediate), new Component(ComponentKind.Mlp, c.Layers, 0),
                     new Component(ComponentKind.Head, 0, 0, Position: Positions), new Component(ComponentKind.Residual, 0, Positions) })
            outside.Invoking(x => x.FlatIndices(c, Positions)).Should().Throw<SiteOutOfRangeException>(outside.Id);
    }

    [SkippableFact]
    public void Sums_and_spreads_equal_the_dense_mask_computations()
    {
        var c = Fixtures.Load("qwen2").Config;
        var components = Everything(c);
        using var masks = new ComponentMasks(components, c, Positions, CPU);
        var generator = new Generator(7);
        var values = masks.Sites.ToDictionary(s => s, s => randn([1, .. s.Shape(c, Positions)], dtype: ScalarType.Float64, generator: generator));
        var sums = masks.Sums(s => values[s]);
        for (int i = 0; i < components.Count; i++)
        {
            double dense = (values[components[i].Site][0] * components[i].Mask(c, Positions, CPU).to_type(ScalarType.Float64)).sum().item<double>();
            sums[i].Should().BeApproximately(dense, 1e-12, components[i].Id);
        }
        foreach (var site in masks.Sites)
        {
            var members = masks.Members(site);
            var weights = randn([3, members.Length], dtype: ScalarType.Float64, generator: generator);
            var dense = stack(Enumerable.Range(0, 3).Select(b =>
                members.Select((m, j) => components[m].Mask(c, Positions, CPU).to_type(ScalarType.Float64) * weights[b, j]).Aggregate((x, y) => x + y)).ToArray());
            masks.Spread(site, weights).allclose(dense, rtol: 0, atol: 1e-12).Should().BeTrue(site.ToString());
            var rows = masks.Rows(site, [members[0], -1, members[^1]], ScalarType.Float32, CPU);
            Same(rows[0], components[members[0]].Mask(c, Positions, CPU)).Should().BeTrue();
            rows[1].count_nonzero().item<long>().Should().Be(0, "a row whose component is at another site patches nothing here");
            Same(rows[2], components[members[^1]].Mask(c, Positions, CPU)).Should().BeTrue();
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
