using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Sites;

/// <summary>
/// What to do at each site during one forward pass: interventions to apply and activations to cache. Sites are
/// resolved to dense ordinals when the plan is built, so the forward pass does no string lookups.
/// </summary>
public sealed class HookPlan
{
    private readonly ModelConfig _config;
    private readonly List<Intervention>?[] _interventions;
    private readonly bool[] _cache;
    private readonly Dictionary<Site, Tensor> _cached = [];

    /// <summary>An empty plan for a model.</summary>
    public HookPlan(ModelConfig config)
    {
        _config = config;
        int n = Site.Count(config.Layers);
        _interventions = new List<Intervention>?[n];
        _cache = new bool[n];
    }

    /// <summary>Asks for these sites' activations to be kept (see <see cref="Cached"/>).</summary>
    public HookPlan Cache(params IEnumerable<Site> sites)
    {
        foreach (var site in sites)
        {
            SiteValidation.EnsureExists(site, _config);
            _cache[site.Ordinal(_config.Layers)] = true;
        }
        return this;
    }

    /// <summary>Adds an intervention; several at one site apply in the order added.</summary>
    public HookPlan Add(Intervention intervention)
    {
        SiteValidation.EnsureExists(intervention.Site, _config);
        ref var list = ref _interventions[intervention.Site.Ordinal(_config.Layers)];
        (list ??= []).Add(intervention);
        return this;
    }

    /// <summary>
    /// Lets a run that reads one position's logits compute the last layer for that query only even though this plan
    /// hooks the layer (most of a layer's work saved): the hook points after its queries then see every earlier
    /// position as zeros, which cannot reach those logits. Off by default, so caches hold every position's activation.
    /// </summary>
    public bool TrimsLastLayer { get; init; }

    /// <summary>When set, the run records itself for jets at t = 0 (<see cref="CleanRunRecord"/>): the output of every
    /// differentiated non-linear operation, whose gradient is its adjoint, and every linear map's output.</summary>
    internal CleanRunRecord? CleanRecord { get; init; }

    /// <summary>The activations cached by the last run, by site.</summary>
    public IReadOnlyDictionary<Site, Tensor> Cached => _cached;

    /// <summary>The cached activation at <paramref name="site"/>; throws when it was not cached.</summary>
    public Tensor this[Site site] => _cached.TryGetValue(site, out var t)
        ? t
        : throw new KeyNotFoundException($"Site {site} was not cached; call Cache({site}) before the run.");

    /// <summary>True when the plan touches this site (lets modules skip optional work, e.g. per-head results).</summary>
    public bool Touches(Site site)
    {
        int o = site.Ordinal(_config.Layers);
        return _cache[o] || _interventions[o] is not null;
    }

    /// <summary>True when the plan keeps this site's activation.</summary>
    internal bool Caches(Site site) => _cache[site.Ordinal(_config.Layers)];

    /// <summary>Called by the model at each hook point.</summary>
    internal Tensor Apply(SiteKind kind, int layer, Tensor activation)
    {
        var site = new Site(kind, layer);
        int o = site.Ordinal(_config.Layers);
        if (_interventions[o] is { } list)
            foreach (var intervention in list)
                activation = intervention.Apply(activation);
        if (_cache[o])
            _cached[site] = activation;
        return activation;
    }
}
