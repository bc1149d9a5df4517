namespace CircuitDsl.Generators;

/// <summary>Names of the incremental pipeline steps, asserted by the caching tests.</summary>
internal static class TrackingNames
{
    public const string Circuits = nameof(Circuits);
    public const string CircuitSpecs = nameof(CircuitSpecs);
}
