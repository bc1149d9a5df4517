using CircuitDsl;

namespace CircuitDsl.Examples.Induction;

/// <summary>Our two-layer attention-only toy model (models/induction).</summary>
[ModelBinding("models/induction/config.json")]
public static partial class InductionToy;

/// <summary>
/// Induction heads read, from the previous occurrence of the current token, the token that followed it: their keys
/// find the occurrence by what layer 0 wrote there about the token before it, their values take the token after it.
/// The experiment below swaps that token, so its change reaches the induction heads through their values.
/// </summary>
[Circuit(typeof(InductionToy))]
[Edge(nameof(Layer0), nameof(InductionHeads), Via = PatchAt.Value)]
public static partial class InductionCircuit
{
    [Heads("0.0", "0.1", "0.2", "0.3")] public static partial ComponentGroup Layer0 { get; }
    [Heads("1.0", "1.1", "1.2", "1.3")] public static partial ComponentGroup InductionHeads { get; }
}

/// <summary>Replace the token after the first occurrence: the induction continuation changes.</summary>
[Experiment(typeof(InductionCircuit), Pairs = 12, Seed = 3)]
[Template("t1 t2 t3 t4 t5 {X} t7 t8 t9 t1 t2 t3 t4 t5", Answer = "X", Wrong = "Y")]
[Slot("X", "t10", "t11", "t12", "t13")]
[Slot("Y", "t20", "t21", "t22")]
[SwapSlot("X", With = "Y")]
public static partial class TokenSwap;
