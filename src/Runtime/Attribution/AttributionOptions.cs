namespace CircuitDsl.Runtime.Attribution;

/// <summary>How φ″ (δᵀHδ) is computed. Both are exact; they differ in cost.</summary>
public enum SecondDerivative
{
    /// <summary>Taylor-mode jets pushed forward from the cached clean residual: no graph, no backward (default).</summary>
    TaylorMode,

    /// <summary>Double backward through autograd: the reference method (one extra backward per estimate).</summary>
    DoubleBackward,
}

/// <summary>The estimators the engine can run.</summary>
[Flags]
public enum Methods
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>Exact activation patching (ground truth).</summary>
    Patching = 1,
    /// <summary>Attribution patching, gᵀδ.</summary>
    Atp = 2,
    /// <summary>Second-order correction gᵀδ + ½δᵀHδ.</summary>
    Hvp = 4,
    /// <summary>Multi-step second-order correction with K sub-steps.</summary>
    MsHvp = 8,
    /// <summary>Integrated gradients along the patch.</summary>
    Ig = 16,
    /// <summary>AtP* (GradDrop).</summary>
    AtpStar = 32,
    /// <summary>GIM: gradient with a modified backward, times δ.</summary>
    Gim = 64,
}

/// <summary>Which cheap screen chooses the components that get an exact HVP in the flag stage.</summary>
public enum CurvatureScreen
{
    /// <summary>Hutchinson random-sign estimate from a few joint HVPs, as extra rows of AtP's pass (default).</summary>
    Hutchinson,
    /// <summary>Corrupted-run gradient difference, ½(g′ − g)ᵀδ: the corrupted run joins the clean one as a second batch
    /// row, so it costs little beyond AtP; it also picks up every other component's interactions (all are patched in
    /// x′), so it predicts AtP's error less well than Hutchinson.</summary>
    GradientDifference,
    /// <summary>No screen: exact HVP on every candidate.</summary>
    Exact,
}

/// <summary>How Screen–Flag–Fix fixes the estimate of a component it flags.</summary>
public enum FixMethod
{
    /// <summary>Exact activation patching: one forward row each from the clean cache, so no error is left to bound
    /// (default); the second-order estimate is listed beside it.</summary>
    Patching,

    /// <summary>The second-order correction gᵀδ + ½δᵀHδ alone, from the flag stage's exact curvature: no pass of its
    /// own; its bound is |½δᵀHδ|, as for any HVP estimate.</summary>
    SecondOrder,
}

/// <summary>Knobs of an attribution run. Defaults follow the paper.</summary>
public sealed record AttributionOptions
{
    /// <summary>What the attribution explains: the logit difference (default), the probability difference, or the
    /// answer's log-probability.</summary>
    public MetricKind Metric { get; init; } = MetricKind.LogitDifference;

    /// <summary>Run Screen–Flag–Fix (AtP → R̃ → HVP / MS-HVP on flagged).</summary>
    public bool ScreenFlagFix { get; init; } = true;

    /// <summary>How Screen–Flag–Fix fixes a flagged estimate: exact patching (the default, and the one departure from the
    /// paper's: a flag marks where the second-order correction is least trustworthy, and a patch costs one forward row)
    /// or the paper's second-order correction, which the flag stage has computed already.</summary>
    public FixMethod Fix { get; init; } = FixMethod.Patching;

    /// <summary>Estimators computed for every component in addition to the pipeline (e.g. patching for evaluation).</summary>
    public Methods Methods { get; init; } = Methods.None;

    /// <summary>Flag threshold on R̃ (1/3: q half as large as l).</summary>
    public double Tau { get; init; } = 1.0 / 3;

    /// <summary>
    /// Screen threshold as a fraction of τ: components whose screened R̃ reaches it get an exact HVP. Null = the screen's
    /// own (<see cref="ScreenFraction"/>).
    /// </summary>
    public double? ScreenTauFraction { get; init; }

    /// <summary>
    /// The fraction in effect: <see cref="ScreenTauFraction"/>, else 0.75 for Hutchinson and 0.25 for the gradient
    /// difference. In docs/screen-threshold-study.md Hutchinson lost no exact flag at any fraction up to 1 (0.75 keeps a
    /// margin for its noise and needs a half to a third fewer exact HVPs than 0.5), while the gradient difference, which
    /// also sees every other component's interactions, lost flags from 0.5 on.
    /// </summary>
    public double ScreenFraction => ScreenTauFraction ?? (Screen == CurvatureScreen.GradientDifference ? 0.25 : 0.75);

    /// <summary>MS-HVP sub-steps.</summary>
    public int K { get; init; } = 5;

    /// <summary>IG grid points.</summary>
    public int IgSteps { get; init; } = 32;

    /// <summary>The cheap screen used by the flag stage.</summary>
    public CurvatureScreen Screen { get; init; } = CurvatureScreen.Hutchinson;

    /// <summary>Screens computed in addition to <see cref="Screen"/>, so the evaluation can report how well each cheap
    /// screen predicts the exact curvature.</summary>
    public IReadOnlyList<CurvatureScreen> ExtraScreens { get; init; } = [];

    /// <summary>
    /// Hutchinson probes: the screen's budget (each probe is one more row of the screen's forward and backward; more
    /// probes, sharper screen). 3 miss no flag that 4 find on six model/component sets over four seeds, where 2 miss
    /// more (docs/screen-threshold-study.md), and cost a sixth less of AtP's pass (Screen–Flag–Fix on the GPT-2 shape's
    /// heads 7–22 % faster at batch 1, 17–20 % at batch 8; heads × positions unchanged).
    /// </summary>
    public int HutchinsonProbes { get; init; } = 3;

    /// <summary>The flag stage considers the top-k components by max(|AtP|, |AtP + screened q|), plus
    /// <see cref="MarginBand"/>; null = max(<see cref="MinimumCandidates"/>, <see cref="CandidateShare"/> of all).</summary>
    public int? CandidateTopK { get; init; }

    /// <summary>Default candidate count floor.</summary>
    public const int MinimumCandidates = 10;

    /// <summary>Default candidate share of all components.</summary>
    public const double CandidateShare = 0.02;

    /// <summary>Components within this fraction of the k-th |AtP| also become candidates.</summary>
    public double MarginBand { get; init; } = 0.5;

    /// <summary>ε in R and R̃: effects below ε·|M(x) − M(x′)| (1% of the whole patch's effect) are too small to flag.</summary>
    public double Epsilon { get; init; } = 1e-2;

    /// <summary>Batch rows per forward (memory knob; see <see cref="RowsForMemoryBudget"/>).</summary>
    public int MaxRowsPerChunk { get; init; } = 64;

    /// <summary>
    /// Memory the pairs' records of their clean runs may take, in bytes (default 2 GiB). With Taylor-mode jets, AtP's
    /// pass records each pair's adjoints and linear outputs, and its jets at t = 0 then multiply the weights by ẋ alone
    /// (GPT-2 small at 16 tokens: about 8 MB a pair; a record grows with layers × positions and lives for the run).
    /// Pairs beyond the budget are not recorded: their jets compute the value and carry ẍ, as exact and slower. 0
    /// records none.
    /// </summary>
    public long CleanRecordBudget { get; init; } = 2L << 30;

    /// <summary>
    /// Memory the pairs' states may keep for the run, in bytes, records included (default 8 GiB). Each pair's AtP pass
    /// leaves its clean cache, δ and gradients (GPT-2 small at 16 tokens: about 3 MB, plus its record), which the later
    /// stages read; the flag stage needs every pair's screen first, so by default every state lives for the run. Groups
    /// beyond the budget keep only their statistics, and a later stage that needs their states rebuilds them with one
    /// more clean forward + backward and corrupted forward per group (cost row "rebuild"); their estimates agree with a
    /// kept state's up to float rounding. 0 keeps none.
    /// </summary>
    public long PairStateBudget { get; init; } = 8L << 30;

    /// <summary>How φ″ is computed for HVP, MS-HVP and bounds (Taylor-mode jets by default; same values).</summary>
    public SecondDerivative SecondDerivative { get; init; } = SecondDerivative.TaylorMode;

    /// <summary>Seed for Hutchinson probes.</summary>
    public long Seed { get; init; } = 1234;

    /// <summary>Top-k used by the evaluation against patching.</summary>
    public int EvaluationTopK { get; init; } = 5;

    /// <summary>Checks ranges; throws <see cref="AttributionInputException"/>.</summary>
    public void Validate()
    {
        if (!(Tau > 0 && Tau < 1)) throw new AttributionInputException($"τ must be in (0, 1); got {Tau}.");
        if (ScreenTauFraction is double fraction && !(fraction >= 0 && fraction <= 1)) throw new AttributionInputException($"The screen's fraction of τ must be in [0, 1]; got {ScreenTauFraction}.");
        if (K < 1 || K > 64) throw new AttributionInputException($"K must be in 1..64; got {K}.");
        if (IgSteps < 2 || IgSteps > 1024) throw new AttributionInputException($"IG steps must be in 2..1024; got {IgSteps}.");
        if (HutchinsonProbes < 1) throw new AttributionInputException($"Hutchinson probes must be ≥ 1; got {HutchinsonProbes}.");
        if (MaxRowsPerChunk < 1) throw new AttributionInputException($"Rows per chunk must be ≥ 1; got {MaxRowsPerChunk}.");
        if (CleanRecordBudget < 0) throw new AttributionInputException($"The clean-record budget must be ≥ 0 bytes; got {CleanRecordBudget}.");
        if (PairStateBudget < 0) throw new AttributionInputException($"The pair-state budget must be ≥ 0 bytes; got {PairStateBudget}.");
        if (CandidateTopK is < 1) throw new AttributionInputException($"Candidate top-k must be ≥ 1; got {CandidateTopK}.");
        if (!Enum.IsDefined(Metric)) throw new AttributionInputException($"Unknown metric {(int)Metric}.");
        if (!Enum.IsDefined(Fix)) throw new AttributionInputException($"Unknown fix {(int)Fix}; use Patching or SecondOrder.");
    }

    /// <summary>Rows per chunk such that a double-backward chunk stays within <paramref name="bytes"/>, from a
    /// measured per-row activation footprint (a double backward keeps ≈ 3× a forward's activations).</summary>
    public static int RowsForMemoryBudget(long bytes, long forwardBytesPerRow) =>
        (int)Math.Clamp(bytes / Math.Max(1, 3 * forwardBytesPerRow), 1, 4096);
}
