using CircuitDsl.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>A projection is x Wᵀ + b whichever orientation its product takes (few rows: (W xᵀ)ᵀ; many: nn.Linear).</summary>
public class ProjectionTests
{
    [Theory]
    [InlineData(1, 16, true)]
    [InlineData(3, 13, false)] // 39 rows
    [InlineData(8, 16, false)] // 128 rows: past Projection.TransposedProductRows
    [InlineData(1, 13, true)] // 13 rows
    [InlineData(2, 5, false)] // 10 rows
    [InlineData(3, 100, true)] // 300 rows: past Projection.TransposedProductRows
    public void Projection_is_x_W_transposed_plus_b_with_the_same_first_and_second_derivatives(int batch, int positions, bool hasBias)
    {
        var projection = new Projection("p", 24, 40, hasBias).to(ScalarType.Float64);
        var generator = new Generator(7);
        using (no_grad())
        {
            projection.Weight.copy_(randn([40, 24], dtype: ScalarType.Float64, generator: generator));
            projection.Bias?.copy_(randn([40], dtype: ScalarType.Float64, generator: generator));
        }
        var x = randn([batch, positions, 24], dtype: ScalarType.Float64, generator: generator).requires_grad_();
        var probe = randn([batch, positions, 40], dtype: ScalarType.Float64, generator: generator);

        var y = projection.Forward(x);
        var expected = nn.functional.linear(x, projection.Weight, projection.Bias);
        y.shape.Should().Equal(batch, positions, 40);
        (y - expected).abs().max().item<double>().Should().BeLessThan(1e-12);

        // First and second derivatives of Σ probe ⊙ y² (a Hessian-vector product along v, by double backward).
        var v = randn([batch, positions, 24], dtype: ScalarType.Float64, generator: generator);
        (Tensor Gradient, Tensor Hv) Derivatives(Tensor output)
        {
            var gradient = autograd.grad([(output.square() * probe).sum()], [x], retain_graph: true, create_graph: true)[0];
            return (gradient, autograd.grad([(gradient * v).sum()], [x], retain_graph: true)[0]);
        }
        var (g, hv) = Derivatives(y);
        var (expectedG, expectedHv) = Derivatives(expected);
        (g - expectedG).abs().max().item<double>().Should().BeLessThan(1e-10);
        (hv - expectedHv).abs().max().item<double>().Should().BeLessThan(1e-10);
        var analyticHv = matmul(2 * probe * matmul(v, projection.Weight.t()), projection.Weight);
        (hv - analyticHv).abs().max().item<double>().Should().BeLessThan(1e-10);
    }
}
