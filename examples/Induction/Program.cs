using CircuitDsl.Examples.Induction;

Console.WriteLine($"Circuit '{InductionCircuit.CircuitName}' compiled by the CircuitDsl generator.");
