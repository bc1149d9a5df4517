using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Foundation;

/// <summary>Proves the native library loads and second derivatives work: everything in the engine stands on it.</summary>
public class DoubleBackwardTests
{
    [Fact]
    public void Double_backward_gives_the_analytic_hessian_vector_product()
    {
        // f(x) = Σ_i Σ_j sin(x_i)·x_j  ⇒  ∂f/∂x_k = cos(x_k)·S + Σ_i sin(x_i),  S = Σ_j x_j
        // ∂²f/∂x_k∂x_l = −sin(x_k)·S·[k=l] + cos(x_k) + cos(x_l)
        double[] xs = [0.3, -1.2, 2.0, 0.7];
        double[] v = [1.0, 0.5, -2.0, 0.25];
        var x = tensor(xs, dtype: float64, requires_grad: true);
        var f = x.sin().sum() * x.sum();
        var g = autograd.grad([f], [x], retain_graph: true, create_graph: true)[0];
        var hv = autograd.grad([(g * tensor(v, dtype: float64)).sum()], [x], retain_graph: false)[0].data<double>().ToArray();

        double s = xs.Sum();
        for (int k = 0; k < xs.Length; k++)
        {
            double expected = -Math.Sin(xs[k]) * s * v[k];
            for (int l = 0; l < xs.Length; l++)
                expected += (Math.Cos(xs[k]) + Math.Cos(xs[l])) * v[l];
            hv[k].Should().BeApproximately(expected, 1e-6);
        }
    }
}
