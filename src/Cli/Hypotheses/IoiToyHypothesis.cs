using CircuitDsl;

namespace CircuitDsl.Cli.Hypotheses;

/// <summary>The embedded IOI toy model (models/ioi), bound at compile time to its config.json.</summary>
[ModelBinding("models/ioi/config.json")]
public static partial class IoiToy;

/// <summary>
/// The demo's hypothesis: which parts of the toy model do indirect object identification. Its edge is what
/// <c>circuit run</c> measures by path patching: the duplicate detectors' direct path into the MLPs carries 7 % of the
/// gap, into the movers' queries, keys or values 0–2 %. The toy's circuit is distributed and non-linear (no single edge
/// carries more than 12 %), so the components' joint effect is far more than their edges' sum.
/// </summary>
[Circuit(typeof(IoiToy), Name = "IOI toy circuit")]
[Edge(nameof(DuplicateDetectors), nameof(Mlps))]
public static partial class IoiToyCircuit
{
    /// <summary>Layer-0 heads that see the repeated name.</summary>
    [Heads("0.1", "0.3")] public static partial ComponentGroup DuplicateDetectors { get; }

    /// <summary>Layer-1 heads that move the other name to the end.</summary>
    [Heads("1.0", "1.2")] public static partial ComponentGroup Movers { get; }

    /// <summary>The MLPs.</summary>
    [Mlps(0, 1, 2)] public static partial ComponentGroup Mlps { get; }
}

/// <summary>Swap the giver's name: the indirect object changes, so the answer flips.</summary>
[Experiment(typeof(IoiToyCircuit), Pairs = 16, Seed = 1)]
[Template("When {A} and {B} went to the {place} , {B} gave a {thing} to", Answer = "A", Wrong = "B")]
[Slot("A", "Mary", "John", "Anna", "Bob", "Lisa", "Tom", "Kate", "Sam")]
[Slot("B", "Mary", "John", "Anna", "Bob", "Lisa", "Tom", "Kate", "Sam")]
[Slot("place", "store", "park", "school", "beach")]
[Slot("thing", "drink", "ball", "book", "gift")]
[SwapSlot("B", With = "A")]
public static partial class IoiToyNameSwap;
