using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>LayerNorm, RMSNorm or Gemma's (1+w) RMSNorm, chosen by the config. Computed in float32.</summary>
public sealed class Norm : nn.Module
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly NormKind _kind;
    private readonly double _eps;
    private readonly long _width;

    /// <summary>Creates an uninitialised norm over <paramref name="width"/> features.</summary>
    public Norm(string name, long width, NormKind kind, double eps) : base(name)
    {
        _kind = kind;
        _eps = eps;
        _width = width;
        weight = new Parameter(empty(width), requires_grad: false);
        bias = kind == NormKind.LayerNorm ? new Parameter(empty(width), requires_grad: false) : null;
        RegisterComponents();
    }

    /// <summary>
    /// Normalises the last dimension. With <paramref name="frozenStatistics"/> the scale (1/σ or 1/rms) is treated
    /// as a constant by autograd, as GIM's modified backward requires; the forward value is unchanged.
    /// </summary>
    public Tensor Forward(Tensor x, bool frozenStatistics = false)
    {
        var input = Precision.AtLeastFloat32(x);
        Tensor y;
        if (_kind == NormKind.LayerNorm)
        {
            if (!frozenStatistics)
                return nn.functional.layer_norm(input, [_width], weight, bias, _eps).to_type(x.dtype);
            var centred = input - input.mean([-1], keepdim: true);
            var inv = (centred.pow(2).mean([-1], keepdim: true) + _eps).rsqrt().detach();
            y = centred * inv * weight + bias!;
        }
        else
        {
            var inv = (input.pow(2).mean([-1], keepdim: true) + _eps).rsqrt();
            if (frozenStatistics) inv = inv.detach();
            y = input * inv;
            y = _kind == NormKind.GemmaRmsNorm ? y * (weight + 1.0) : y * weight;
        }
        return y.to_type(x.dtype);
    }

    /// <summary>Normalises a jet (float32 or float64): the same formulas, differentiated by <see cref="Jet"/> algebra.</summary>
    public Jet Forward(Jet x)
    {
        if (_kind == NormKind.LayerNorm)
        {
            var centred = x - x.MeanLast();
            var inv = (centred * centred).MeanLast().Shift(_eps).Elementwise(JetFunctions.Rsqrt);
            return (centred * inv * weight).Shift(bias!);
        }
        var scale = (x * x).MeanLast().Shift(_eps).Elementwise(JetFunctions.Rsqrt);
        return x * scale * (_kind == NormKind.GemmaRmsNorm ? weight + 1.0 : (Tensor)weight);
    }
}
