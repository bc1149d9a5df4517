using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Sites;

/// <summary>
/// Where a Taylor-mode forward patches: at each site, the activation a becomes a + t·δ, so its jet gains the
/// direction δ (and the value t·δ when t ≠ 0). The jet counterpart of a <see cref="HookPlan"/> of
/// <see cref="AddOffset"/>s.
/// </summary>
public sealed class JetPlan
{
    private readonly ModelConfig _config;
    private readonly (Tensor Direction, Tensor? ValueOffset)?[] _patches;

    /// <summary>An empty plan for a model.</summary>
    public JetPlan(ModelConfig config)
    {
        _config = config;
        _patches = new (Tensor, Tensor?)?[Site.Count(config.Layers)];
    }

    /// <summary>Patches <paramref name="site"/> along <paramref name="direction"/>, already moved by <paramref name="valueOffset"/> (t·δ; null when t = 0).</summary>
    public JetPlan Add(Site site, Tensor direction, Tensor? valueOffset)
    {
        SiteValidation.EnsureExists(site, _config);
        _patches[site.Ordinal(_config.Layers)] = (direction, valueOffset);
        return this;
    }

    /// <summary>The clean run's record, per value row, for a forward at t = 0: adjoints where it retires ẍ, linear
    /// outputs it takes as values (<see cref="CleanRunRecord"/>); or null.</summary>
    internal CleanRunRecord? CleanRecord { get; init; }

    /// <summary>True when the plan patches this site.</summary>
    public bool Touches(Site site) => _patches[site.Ordinal(_config.Layers)] is not null;

    /// <summary>Called by the model at each hook point of a jet forward.</summary>
    internal Jet Apply(SiteKind kind, int layer, Jet activation) =>
        _patches[new Site(kind, layer).Ordinal(_config.Layers)] is { } patch ? activation.AddDirection(patch.Direction, patch.ValueOffset) : activation;
}
