namespace CircuitDsl.Runtime.Attribution;

/// <summary>
/// Every estimate computed for one component, each a mean over prompt pairs of signed per-pair effects. Null means
/// "not computed" (Screen–Flag–Fix computes expensive estimates only where needed).
/// </summary>
public sealed record ComponentEstimate
{
    /// <summary>The component.</summary>
    public required Component Component { get; init; }
    /// <summary>Its id, e.g. <c>L3H5</c>.</summary>
    public string Id => Component.Id;
    /// <summary>Exact activation patching Δ = φ(1) − φ(0): for every component when asked, and for flagged components
    /// when Screen–Flag–Fix fixes by patching (the default: one forward row each).</summary>
    public double? Patching { get; init; }
    /// <summary>AtP, gᵀδ = φ′(0).</summary>
    public required double Atp { get; init; }
    /// <summary>gᵀδ + ½δᵀHδ.</summary>
    public double? Hvp { get; init; }
    /// <summary>MS-HVP with K sub-steps.</summary>
    public double? MsHvp { get; init; }
    /// <summary>Integrated gradients.</summary>
    public double? Ig { get; init; }
    /// <summary>AtP* (GradDrop).</summary>
    public double? AtpStar { get; init; }
    /// <summary>GIM.</summary>
    public double? Gim { get; init; }
    /// <summary>q = ½δᵀHδ (exact, by double backward), if computed.</summary>
    public double? Curvature { get; init; }
    /// <summary>q from the cheap screen, if computed.</summary>
    public double? ScreenedCurvature { get; init; }
    /// <summary>
    /// The part of q = ½δᵀHδ due to the component's own non-linearity: the attention softmax for query/key inputs;
    /// zero for outputs written linearly into the residual (heads' z, MLP outputs, neurons, values); null where not
    /// computed (residual components, or no exact curvature).
    /// </summary>
    public double? LocalCurvature { get; init; }
    /// <summary>|local| / (|local| + |q − local|): the share of AtP's second-order error explained locally.</summary>
    public double? LocalShare => LocalCurvature is double l && Curvature is double q
        ? (Math.Abs(l) + Math.Abs(q - l) == 0 ? 0 : Math.Abs(l) / (Math.Abs(l) + Math.Abs(q - l))) : null;
    /// <summary>R = |q|/max(|l|, ε), mean over pairs (exact q where computed, else the screen's).</summary>
    public double? R { get; init; }
    /// <summary>R̃ ∈ [0,1), mean over pairs.</summary>
    public double? RTilde { get; init; }
    /// <summary>R̃ ≥ τ.</summary>
    public bool Flagged { get; init; }
    /// <summary>Estimated bound on |Δ − <see cref="Estimate"/>| (a posteriori, not a guarantee); 0 when the estimate is
    /// the exact patching effect (<see cref="BoundExplanation"/>).</summary>
    public double? Bound { get; init; }

    /// <summary>What <see cref="Bound"/> is for each kind of estimate, for reports to print beside it.</summary>
    public const string BoundExplanation = "Bounds are estimated a posteriori, not guaranteed: for AtP (and HVP, which has no remainder estimate of its own) |½δᵀHδ|, the second-order term; "
        + "for MS-HVP the Taylor remainder, with sup|φ‴| from φ″ at its sub-steps; 0 where the estimate is exact patching.";
    /// <summary>True when Screen–Flag–Fix produced this estimate (its flags decide <see cref="Estimate"/>).</summary>
    public bool ScreenFlagFix { get; init; }

    /// <summary>How Screen–Flag–Fix fixed a flagged estimate (<see cref="AttributionOptions.Fix"/>).</summary>
    public FixMethod Fix { get; init; }

    /// <summary>
    /// The final estimate. With Screen–Flag–Fix, the method's: the exact patching effect for flagged components (with
    /// <see cref="FixMethod.SecondOrder"/>, MS-HVP where computed, else HVP), AtP (which R̃ &lt; τ trusts) for the
    /// others, whatever other estimators were asked for beside it. Without it, the best
    /// computed: MS-HVP, else HVP, else AtP. Patching asked for every component is ground truth for evaluation, never
    /// an unflagged component's estimate.
    /// </summary>
    public double Estimate => EstimateMethod switch
    {
        "patching" => Patching!.Value,
        "mshvp" => MsHvp!.Value,
        "hvp" => Hvp!.Value,
        _ => Atp,
    };

    /// <summary>Which method <see cref="Estimate"/> comes from.</summary>
    public string EstimateMethod => EstimateOrder(Flagged, ScreenFlagFix, Fix).First(m => m switch
    {
        "patching" => Patching is not null,
        "mshvp" => MsHvp is not null,
        "hvp" => Hvp is not null,
        _ => true,
    });

    /// <summary>The methods <see cref="Estimate"/> takes, in order of preference, for a component flagged or not, by
    /// Screen–Flag–Fix or not, fixed by <paramref name="fix"/> (shared with the evaluation, which applies it per pair).</summary>
    public static IReadOnlyList<string> EstimateOrder(bool flagged, bool screenFlagFix, FixMethod fix = FixMethod.Patching) =>
        flagged && fix == FixMethod.Patching ? ["patching", "mshvp", "hvp", "atp"]
        : flagged || !screenFlagFix ? ["mshvp", "hvp", "atp"]
        : ["atp"];
}

/// <summary>The outcome of an attribution run.</summary>
public sealed record AttributionResult
{
    /// <summary>Model path or name.</summary>
    public required string Model { get; init; }
    /// <summary>Metric kind (<c>logit_diff</c>).</summary>
    public required string MetricKind { get; init; }
    /// <summary>Mean clean metric M(x).</summary>
    public required double CleanMetric { get; init; }
    /// <summary>Mean corrupted metric M(x′).</summary>
    public required double CorruptedMetric { get; init; }
    /// <summary>Number of prompt pairs.</summary>
    public required int Pairs { get; init; }
    /// <summary>Per component estimates, in the order components were given.</summary>
    public required IReadOnlyList<ComponentEstimate> Components { get; init; }
    /// <summary>Comparison with activation patching, when patching was computed for every component.</summary>
    public Evaluation.PatchingEvaluation? Evaluation { get; init; }
    /// <summary>Compute spent per method.</summary>
    public required IReadOnlyDictionary<string, MethodCost> Cost { get; init; }
    /// <summary>The options used.</summary>
    public required AttributionOptions Options { get; init; }
    /// <summary>The per-pair values behind the means (what shards carry and merges combine).</summary>
    public PairData? Data { get; init; }

    /// <summary>What a reader should know before trusting the estimates (e.g. a saturated probability metric); empty
    /// when nothing is amiss.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The estimate for one component id; throws with the known ids when absent.</summary>
    public ComponentEstimate Component(string id) =>
        Components.FirstOrDefault(c => c.Id == id)
        ?? throw new KeyNotFoundException($"No component '{id}' in this result; it has {string.Join(", ", Components.Take(12).Select(c => c.Id))}{(Components.Count > 12 ? ", …" : "")}.");

    /// <summary>The estimates of a generated circuit group's components, in declaration order.</summary>
    public IReadOnlyList<ComponentEstimate> Group(ComponentGroup group) =>
        [.. group.Components.Select(c => Component(Experiments.ExperimentRunner.ToComponent(c).Id))];

    /// <summary>Components ranked by |estimate|, largest first.</summary>
    public IEnumerable<ComponentEstimate> Ranked() => Components.OrderByDescending(c => Math.Abs(c.Estimate));
}
