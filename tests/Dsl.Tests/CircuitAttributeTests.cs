namespace CircuitDsl.Dsl.Tests;

public class CircuitAttributeTests
{
    [Fact]
    public void Explicit_name_is_kept_and_default_is_null()
    {
        new CircuitAttribute("ioi").Name.Should().Be("ioi");
        new CircuitAttribute().Name.Should().BeNull();
    }
}
