using CircuitDsl.Runtime.Models.Jets;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>A linear map <c>y = x Wᵀ + b</c> with W stored [out, in] (nn.Linear convention). Created empty: the
/// loader fills it, so building a model costs no random initialisation.</summary>
public sealed class Projection : nn.Module
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <summary>Creates an uninitialised projection.</summary>
    public Projection(string name, long inFeatures, long outFeatures, bool hasBias) : base(name)
    {
        weight = new Parameter(empty(outFeatures, inFeatures), requires_grad: false);
        bias = hasBias ? new Parameter(empty(outFeatures), requires_grad: false) : null;
        RegisterComponents();
    }

    /// <summary>The weight, [out, in].</summary>
    public Tensor Weight => weight;

    /// <summary>The bias, if any.</summary>
    public Tensor? Bias => bias;

    /// <summary>Applies the map.</summary>
    public Tensor Forward(Tensor x) => nn.functional.linear(x, weight, bias);

    /// <summary>Applies the map to a jet (the bias moves only the value).</summary>
    public Jet Forward(Jet x)
    {
        var y = x.MapStacked(v => nn.functional.linear(v, weight));
        return bias is null ? y : y.Shift(bias);
    }
}
