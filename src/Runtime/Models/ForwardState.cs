using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>Switches for estimators that need a modified backward (GIM); the forward value never changes.</summary>
/// <param name="FrozenNormStatistics">Treat norm scales as constants in backward.</param>
/// <param name="SoftmaxBackwardTemperature">Backward through attention softmax as if at this temperature (1 = exact).</param>
/// <param name="QueryGradScale">Gradient scale on queries.</param>
/// <param name="KeyGradScale">Gradient scale on keys.</param>
/// <param name="ValueGradScale">Gradient scale on values.</param>
public sealed record BackwardModification(
    bool FrozenNormStatistics = false,
    double SoftmaxBackwardTemperature = 1.0,
    double QueryGradScale = 1.0,
    double KeyGradScale = 1.0,
    double ValueGradScale = 1.0)
{
    /// <summary>GIM's settings (Edin et al. 2025): frozen norms, T=2, Q/K/V scales 0.25/0.25/0.5.</summary>
    public static BackwardModification Gim { get; } = new(true, 2.0, 0.25, 0.25, 0.5);
}

/// <summary>Per-run tensors shared by every layer: masks, rotary tables, hooks.</summary>
public sealed class ForwardState
{
    internal ForwardState(HookPlan? hooks, Tensor causalMask, Tensor? slidingMask, Tensor? cos, Tensor? sin, BackwardModification? modification)
    {
        Hooks = hooks;
        CausalMask = causalMask;
        SlidingMask = slidingMask;
        Cos = cos;
        Sin = sin;
        Modification = modification;
    }

    /// <summary>The hook plan, or null for a plain run.</summary>
    public HookPlan? Hooks { get; }

    /// <summary>True where a query may NOT attend to a key: [B or 1, 1, T, T].</summary>
    public Tensor CausalMask { get; }

    /// <summary>Like <see cref="CausalMask"/> plus the sliding window, for layers that slide.</summary>
    public Tensor? SlidingMask { get; }

    /// <summary>Rotary cos table, if the model is rotary.</summary>
    public Tensor? Cos { get; }

    /// <summary>Rotary sin table, if the model is rotary.</summary>
    public Tensor? Sin { get; }

    /// <summary>Backward modification, if any.</summary>
    public BackwardModification? Modification { get; }

    /// <summary>Positions in the prompt, T.</summary>
    public long Length => CausalMask.shape[^1];

    /// <summary>The first position this run computes: 0, or a <see cref="CachedStart"/>'s position (earlier keys and
    /// values then come from <see cref="Prefix"/>).</summary>
    public long Start => Prefix?.Position ?? 0;

    /// <summary>The cached start whose earlier positions this run reuses, or null.</summary>
    internal CachedStart? Prefix { get; set; }

    /// <summary>The patches of a Taylor-mode (jet) forward, or null.</summary>
    public JetPlan? Jets { get; internal set; }

    /// <summary>The dispose scope of the layer running now (see <see cref="HookedTransformer"/>), or null.</summary>
    internal TorchSharp.DisposeScope? LayerScope { get; set; }

    /// <summary>
    /// Set while a layer computes only the queries from this position on (the last layer of a run that reads one
    /// position, <see cref="HookPlan.TrimsLastLayer"/>), or null.
    /// </summary>
    internal long? QueriesFrom { get; set; }

    /// <summary>Applies the hook plan at one hook point (identity when there is none).</summary>
    public Tensor Hook(SiteKind kind, int layer, Tensor activation)
    {
        if (Hooks is null || !Hooks.Touches(new Site(kind, layer))) return activation;
        // In a layer computing only later queries, the hook points from the queries on see full length with zeros at
        // the positions not computed (its residual input, keys and values span every position).
        long missing = QueriesFrom is long from && kind is not (SiteKind.ResidPre or SiteKind.AttnK or SiteKind.AttnV) ? from - Start : 0;
        int axis = SiteMask.Axes(kind).Position;
        var full = missing == 0 ? activation
            : cat([zeros([.. activation.shape.Select((size, d) => d == axis ? missing : size)], dtype: activation.dtype, device: activation.device), activation], axis);
        var result = Hooks.Apply(kind, layer, full);
        // A cached activation must outlive the dispose scope of the layer that made it.
        if (LayerScope is not null && Hooks.Caches(new Site(kind, layer))) LayerScope.MoveToOuter(result);
        return missing == 0 ? result : result.narrow(axis, missing, result.shape[axis] - missing);
    }

    /// <summary>What a plain run records of itself, or what a jet forward at t = 0 takes from the clean run (see
    /// <see cref="CleanRunRecord"/>), or null.</summary>
    internal CleanRunRecord? CleanRecord => Jets?.CleanRecord ?? Hooks?.CleanRecord;

    /// <summary>At the output of a non-linear operation of a plain run: a record keeps it, to take its adjoint.</summary>
    internal Tensor AtCurvature(CurvaturePoint point, int layer, Tensor activation) =>
        CleanRecord is { } record ? record.Capture(layer, point, activation, LayerScope) : activation;

    /// <summary>At the output of a non-linear operation of a jet forward: retires ẍ there, where adjoints are known.</summary>
    internal Jet AtCurvature(CurvaturePoint point, int layer, Jet activation) =>
        CleanRecord is { } record ? record.Retire(layer, point, activation) : activation;

    /// <summary>Applies a linear map in a plain run: a record keeps its output.</summary>
    internal Tensor Project(Projection map, LinearOutput output, int layer, Tensor x)
    {
        var y = map.Forward(x);
        return CleanRecord is { } record ? record.Keep(layer, output, y, LayerScope) : y;
    }

    /// <summary>Applies a linear map to a jet: where the clean run's output is recorded (t = 0), the value is taken
    /// from it and only the derivatives are multiplied.</summary>
    internal Jet Project(Projection map, LinearOutput output, int layer, Jet x) =>
        map.Forward(x, CleanRecord?.Output(layer, output, x.Value.shape[1]));

    /// <summary>Applies the jet plan at one hook point of a jet forward (identity when there is none).</summary>
    public Jet Hook(SiteKind kind, int layer, Jet activation) =>
        Jets is null ? activation : Jets.Apply(kind, layer, activation);

    /// <summary>True when the plan (or jet plan) touches the site.</summary>
    public bool Touches(SiteKind kind, int layer) =>
        Hooks?.Touches(new Site(kind, layer)) == true || Jets?.Touches(new Site(kind, layer)) == true;

    /// <summary>True when the plan (or jet plan) touches any site of <paramref name="layer"/>.</summary>
    public bool TouchesLayer(int layer) => Enumerable.Range(0, Site.KindsPerLayer).Any(kind => Touches((SiteKind)kind, layer));

    /// <summary>Rows <paramref name="from"/>… of the query axis of a [B, 1, T, T] mask (all rows when 0).</summary>
    internal static Tensor QueryRows(Tensor mask, long from) => from == 0 ? mask : mask.narrow(2, from, mask.shape[2] - from);

    /// <summary>Positions <paramref name="from"/>… of a [B, T, …] tensor (all when 0).</summary>
    internal static Tensor Positions(Tensor x, long from) => from == 0 ? x : x.narrow(1, from, x.shape[1] - from);
}
