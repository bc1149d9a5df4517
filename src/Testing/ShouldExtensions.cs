using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Testing;

/// <summary>Entry points: <c>result.Should()</c>, <c>result.Component("L4H11").Should()</c>, <c>circuit.Should()</c>.</summary>
public static class ShouldExtensions
{
    /// <summary>Assertions on an attribution result.</summary>
    public static AttributionResultAssertions Should(this AttributionResult result) => new(result);

    /// <summary>Assertions on one component's estimates.</summary>
    public static ComponentEstimateAssertions Should(this ComponentEstimate estimate) => new(estimate);

    /// <summary>Assertions on a circuit claim.</summary>
    public static CircuitAssertions Should(this CircuitUnderTest circuit) => new(circuit);

    /// <summary>The estimate of <paramref name="id"/> with its result attached, so failures print the table.</summary>
    public static ComponentEstimateAssertions ShouldHave(this AttributionResult result, string id) => new(result.Component(id), result);
}
