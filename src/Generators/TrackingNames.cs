namespace CircuitDsl.Generators;

/// <summary>Names of the incremental pipeline steps, asserted by the caching tests.</summary>
internal static class TrackingNames
{
    public const string Bindings = nameof(Bindings);
    public const string ConfigFiles = nameof(ConfigFiles);
    public const string Models = nameof(Models);
    public const string Circuits = nameof(Circuits);
    public const string ValidatedCircuits = nameof(ValidatedCircuits);
    public const string Experiments = nameof(Experiments);
    public const string ValidatedExperiments = nameof(ValidatedExperiments);
    public const string HasRuntime = nameof(HasRuntime);
}
