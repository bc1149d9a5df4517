using CircuitDsl.Runtime.Loading;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models.Jets;

/// <summary>Elementwise functions with their first and second derivatives, for <see cref="Jet.Elementwise"/>.</summary>
public static class JetFunctions
{
    private static readonly double InvSqrt2Pi = 1 / Math.Sqrt(2 * Math.PI), Sqrt2OverPi = Math.Sqrt(2 / Math.PI), GeluCubic = 0.044715;

    /// <summary>tanh: f′ = 1 − f², f″ = −2f(1 − f²).</summary>
    public static (Tensor, Tensor, Tensor) Tanh(Tensor u)
    {
        var f = u.tanh();
        var d1 = 1 - f.square();
        return (f, d1, -2 * f * d1);
    }

    /// <summary>exp: f′ = f″ = f.</summary>
    public static (Tensor, Tensor, Tensor) Exp(Tensor u)
    {
        var f = u.exp();
        return (f, f, f);
    }

    /// <summary>u^(−1/2), the norms' scale: f′ = −½u^(−3/2), f″ = ¾u^(−5/2).</summary>
    public static (Tensor, Tensor, Tensor) Rsqrt(Tensor u)
    {
        var f = u.rsqrt();
        var f3 = f / u;
        return (f, -0.5 * f3, 0.75 * f3 / u);
    }

    /// <summary>The activation of an MLP.</summary>
    public static Func<Tensor, (Tensor, Tensor, Tensor)> For(Activation activation) => activation switch
    {
        Activation.Gelu => Gelu,
        Activation.GeluTanh => GeluTanh,
        Activation.Silu => Silu,
        Activation.Relu => Relu,
        _ => throw new InvalidOperationException($"activation {activation}"),
    };

    // Exact GELU uΦ(u): f′ = Φ + uφ, f″ = φ(2 − u²).
    private static (Tensor, Tensor, Tensor) Gelu(Tensor u)
    {
        var density = (u.square() * -0.5).exp() * InvSqrt2Pi;
        var cdf = ((u * (1 / Math.Sqrt(2))).erf() + 1) * 0.5;
        return (u * cdf, cdf + u * density, density * (2 - u.square()));
    }

    // tanh GELU ½u(1 + tanh s), s = k(u + cu³): f′ = ½(1 + tanh s) + ½u sech²s s′, f″ = sech²s (s′ + ½u(s″ − 2 tanh s s′²)).
    private static (Tensor, Tensor, Tensor) GeluTanh(Tensor u)
    {
        var u2 = u.square();
        var th = ((u + u * u2 * GeluCubic) * Sqrt2OverPi).tanh();
        var sech2 = 1 - th.square();
        var s1 = (1 + 3 * GeluCubic * u2) * Sqrt2OverPi;
        var s2 = u * (6 * GeluCubic * Sqrt2OverPi);
        var f = 0.5 * u * (1 + th);
        var d1 = 0.5 * (1 + th) + 0.5 * u * sech2 * s1;
        var d2 = sech2 * (s1 + 0.5 * u * (s2 - 2 * th * s1.square()));
        return (f, d1, d2);
    }

    // SiLU uσ(u): f′ = σ(1 + u(1 − σ)), f″ = σ(1 − σ)(2 + u(1 − 2σ)).
    private static (Tensor, Tensor, Tensor) Silu(Tensor u)
    {
        var s = u.sigmoid();
        return (u * s, s * (1 + u * (1 - s)), s * (1 - s) * (2 + u * (1 - 2 * s)));
    }

    private static (Tensor, Tensor, Tensor) Relu(Tensor u) => (u.relu(), (u > 0).to_type(u.dtype), zeros_like(u));
}
