using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Models;

/// <summary>
/// Each piece of the jet algebra against autograd: for x(t) = a + t·b + t²·c, the jet of f(x(t)) at t must equal
/// f, df/dt and d²f/dt² computed by double backward. The families' end-to-end equality lives in EngineDerivativeTests.
/// </summary>
public class JetTests
{
    private static readonly Tensor A = linspace(-3, 3, 24, dtype: ScalarType.Float64).view(2, 3, 4);
    private static readonly Tensor B = cos(arange(24, dtype: ScalarType.Float64)).view(2, 3, 4);
    private static readonly Tensor C = sin(arange(24, dtype: ScalarType.Float64) * 0.7).view(2, 3, 4) * 0.3;

    public static TheoryData<string> Functions => new() { "gelu", "gelu_tanh", "silu", "relu", "tanh", "rsqrt", "softmax", "layer_norm", "product", "matmul" };

    [Theory]
    [MemberData(nameof(Functions))]
    public void Jet_of_a_function_equals_its_derivatives_by_double_backward(string name)
    {
        var (onJet, onTensor) = Pair(name);
        var t = tensor(0.35, dtype: ScalarType.Float64, requires_grad: true);
        var x = A + t * B + t * t * C;
        var y = onTensor(x);
        var first = autograd.grad([y.sum()], [t], retain_graph: true, create_graph: true)[0];
        var second = autograd.grad([first], [t], retain_graph: false)[0];

        var input = new Jet((A + 0.35 * B + 0.35 * 0.35 * C), B + 2 * 0.35 * C, 2 * C);
        var jet = onJet(input);
        jet.Value.sum().item<double>().Should().BeApproximately(y.sum().item<double>(), 1e-10);
        jet.First!.sum().item<double>().Should().BeApproximately(first.item<double>(), 1e-9);
        jet.Second!.sum().item<double>().Should().BeApproximately(second.item<double>(), 1e-8);
    }

    [Theory]
    [MemberData(nameof(Functions))]
    public void Each_value_row_meets_only_its_own_run_of_derivative_rows(string name)
    {
        // Two value rows (two prompts), two derivative rows each: as if each value row ran alone with its own two.
        var (onJet, _) = Pair(name);
        var first = cat([B, B.flip(0)]);
        var second = cat([C, C * 2]);
        var grouped = onJet(new Jet(A, first, second));
        for (int g = 0; g < 2; g++)
        {
            var alone = onJet(new Jet(A.narrow(0, g, 1), first.narrow(0, 2 * g, 2), second.narrow(0, 2 * g, 2)));
            grouped.Value.narrow(0, g, 1).allclose(alone.Value, rtol: 1e-12, atol: 1e-12).Should().BeTrue($"value row {g}");
            grouped.First!.narrow(0, 2 * g, 2).allclose(alone.First!, rtol: 1e-12, atol: 1e-12).Should().BeTrue($"first derivatives of value row {g}");
            grouped.Second!.narrow(0, 2 * g, 2).allclose(alone.Second!, rtol: 1e-12, atol: 1e-12).Should().BeTrue($"second derivatives of value row {g}");
        }
    }

    [Fact]
    public void Derivative_rows_that_do_not_split_evenly_over_the_value_rows_are_refused()
    {
        var jet = new Jet(A, cat([B, B.narrow(0, 0, 1)]), null);
        jet.Invoking(x => x.Softmax(-1)).Should().Throw<ArgumentException>().WithMessage("*equal runs*");
    }

    [Fact]
    public void Stacked_linear_map_equals_the_map_applied_part_by_part_and_keeps_a_one_row_value()
    {
        var w = cos(arange(20, dtype: ScalarType.Float64)).view(5, 4);
        var jet = new Jet(A.narrow(0, 0, 1), B, null);
        var stacked = jet.MapStacked(v => matmul(v, w.t()));
        var separate = jet.Map(v => matmul(v, w.t()));
        stacked.Value.shape.Should().Equal(1, 3, 5);
        stacked.Second.Should().BeNull();
        stacked.Value.allclose(separate.Value).Should().BeTrue();
        stacked.First!.allclose(separate.First!).Should().BeTrue();
    }

    private static (Func<Jet, Jet>, Func<Tensor, Tensor>) Pair(string name)
    {
        return name switch
        {
            "gelu" => (x => x.Elementwise(JetFunctions.For(Activation.Gelu)), x => nn.functional.gelu(x)),
            "gelu_tanh" => (x => x.Elementwise(JetFunctions.For(Activation.GeluTanh)), x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh)),
            "silu" => (x => x.Elementwise(JetFunctions.For(Activation.Silu)), x => nn.functional.silu(x)),
            "relu" => (x => x.Elementwise(JetFunctions.For(Activation.Relu)), x => nn.functional.relu(x)),
            "tanh" => (x => x.Elementwise(JetFunctions.Tanh), x => x.tanh()),
            "rsqrt" => (x => (x * x).Shift(0.5).Elementwise(JetFunctions.Rsqrt), x => (x * x + 0.5).rsqrt()),
            "softmax" => (x => x.Softmax(-1), x => x.softmax(-1)),
            "layer_norm" => (x => { var c = x - x.MeanLast(); return c * (c * c).MeanLast().Shift(1e-5).Elementwise(JetFunctions.Rsqrt); },
                x => nn.functional.layer_norm(x, [4], eps: 1e-5)),
            // Both factors move with t, so the cross term 2x′y′ is exercised.
            "product" => (x => x * x.Elementwise(JetFunctions.Tanh), x => x * x.tanh()),
            "matmul" => (x => Jet.MatMul(x, x.Map(v => v.transpose(1, 2))), x => matmul(x, x.transpose(1, 2))),
            _ => throw new ArgumentException(name),
        };
    }
}
