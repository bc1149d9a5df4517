using CircuitDsl;

namespace CircuitDsl.Examples.Induction;

/// <summary>The two-head induction circuit of a two-layer attention-only model.</summary>
[Circuit("induction")]
public partial class InductionCircuit;
