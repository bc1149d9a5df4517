namespace CircuitDsl.Generators.Model;

/// <summary>What the emitter needs to know about one circuit class: strings only, so the pipeline caches.</summary>
internal sealed record CircuitSpec(string Namespace, string ClassName, string DisplayName, string Accessibility);
