using System;

namespace CircuitDsl;

/// <summary>
/// Marks a partial class as a circuit hypothesis: a named set of model components that together are claimed to
/// implement a behaviour. The CircuitDsl generator validates the class at compile time and emits its hook plan.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class CircuitAttribute : Attribute
{
    /// <summary>Declares a circuit whose display name is the class name.</summary>
    public CircuitAttribute() { }

    /// <summary>Declares a circuit with an explicit display name.</summary>
    /// <param name="name">The name shown in reports and assertion messages.</param>
    public CircuitAttribute(string name) => Name = name;

    /// <summary>The display name, or <see langword="null"/> to use the class name.</summary>
    public string? Name { get; }
}
