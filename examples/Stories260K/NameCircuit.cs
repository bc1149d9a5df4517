using CircuitDsl;

namespace CircuitDsl.Examples.Stories260K;

/// <summary>stories260K's shape, given explicitly: its files live in ../shared and are never copied here, so the
/// hypothesis compiles with or without them.</summary>
[ModelBinding(Family = "llama", Layers = 5, Heads = 8, KvHeads = 4, Neurons = 172)]
public static partial class Stories260KModel;

/// <summary>
/// Which parts of stories260K choose between Lily and Tim as the receiver. The edges, measured by path patching on the
/// experiment's pairs: the early MLPs reach the last layer's heads through their values (115 % of the gap; through
/// their keys, 9 %), and those heads write the answer straight into the logits (85 %).
/// </summary>
[Circuit(typeof(Stories260KModel), Name = "stories260K names")]
[Edge(nameof(Mlps), nameof(LateHeads), Via = PatchAt.Value)]
[Edge(nameof(LateHeads), EdgeEnd.Logits)]
public static partial class NameCircuit
{
    [Heads("4.2", "4.0", "4.3")] public static partial ComponentGroup LateHeads { get; }
    [Mlps(0, 1, 2, 3)] public static partial ComponentGroup Mlps { get; }
    [Mlps(4)] public static partial ComponentGroup LastMlp { get; }
}

/// <summary>Swap the giver: the receiver flips between Lily and Tim.</summary>
[Experiment(typeof(NameCircuit), Pairs = 12)]
[Template("{A} and {B} went to the {place}. {B} gave the ball to", Answer = "A", Wrong = "B")]
[Slot("A", "Lily", "Tim")]
[Slot("B", "Lily", "Tim")]
[Slot("place", "park", "garden", "house")]
[SwapSlot("B", With = "A")]
public static partial class GiverSwap;

/// <summary>
/// The same swap, explaining the answer's log-probability (its loss, negated) instead of the logit difference: no wrong
/// token to name. The softmax bends it where the logit difference is straight, so AtP errs more and more components
/// are flagged (the last layer's L4H2 among them, reliable under the logit difference).
/// </summary>
[Experiment(typeof(NameCircuit), Pairs = 12, Metric = Metric.LogProbability)]
[Template("{A} and {B} went to the {place}. {B} gave the ball to", Answer = "A")]
[Slot("A", "Lily", "Tim")]
[Slot("B", "Lily", "Tim")]
[Slot("place", "park", "garden", "house")]
[SwapSlot("B", With = "A")]
public static partial class GiverSwapLogProbability;

/// <summary>
/// The same swap, explaining how far the next-token distribution moves from the clean prompt's (KL, ACDC's metric): no
/// token to name at all. The clean run is the divergence's minimum, so AtP reads 0 for every component and the flags
/// send the circuit's components to their exact effects.
/// </summary>
[Experiment(typeof(NameCircuit), Pairs = 12, Metric = Metric.KlDivergence)]
[Template("{A} and {B} went to the {place}. {B} gave the ball to")]
[Slot("A", "Lily", "Tim")]
[Slot("B", "Lily", "Tim")]
[Slot("place", "park", "garden", "house")]
[SwapSlot("B", With = "A")]
public static partial class GiverSwapKl;
