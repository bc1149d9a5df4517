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
    public Tensor Forward(Tensor x) => Apply(x, bias);

    /// <summary>Applies the map to a jet (the bias moves only the value); with <paramref name="value"/>, the map's
    /// output at the jet's value, known already, only the derivatives are multiplied.</summary>
    public Jet Forward(Jet x, Tensor? value = null)
    {
        if (value is not null) return x.MapDerivatives(v => Apply(v, null), value);
        var y = x.MapStacked(v => Apply(v, null));
        return bias is null ? y : y.Shift(bias);
    }

    /// <summary>
    /// Up to this many rows (batch × positions) a CPU projection is computed as (W xᵀ)ᵀ: with few rows MKL's GEMM
    /// streams the weight better in that orientation. GPT-2 small, 2 cores, MKL's own kernels
    /// (<see cref="Platform.MklOnAmd"/>), alternating in one process: nn.Linear's x Wᵀ is 24–28 % slower for a one-row
    /// forward (16 rows) and 3–5 % for AtP's 32-row pass, but 7–8 % faster for six rows of forward + backward (96
    /// rows), so Screen–Flag–Fix on all heads ran 6–9 % faster than with the earlier bound of 128, patching unchanged.
    /// Training (weights that require grad) keeps nn.Linear, so the shipped toy models reproduce bit for bit.
    /// </summary>
    public const long TransposedProductRows = 48;

    // x Wᵀ + b over the last dimension of x. (W xᵀ)ᵀ takes the rows as they come: padding them to a multiple of 16,
    // which MKL once needed, gains nothing since MKL runs its AVX-512 kernels here (Platform.MklOnAmd) — its time steps
    // with each 16 columns either way (2026-11-27: 12 layers' products 15–17 ms at 5–16 columns, 20–22 ms at 17–32).
    private Tensor Apply(Tensor x, Tensor? b)
    {
        long inFeatures = weight.shape[1], rows = x.numel() / Math.Max(1, inFeatures);
        if (rows == 0 || rows > TransposedProductRows || x.device_type != DeviceType.CPU || weight.requires_grad)
            return nn.functional.linear(x, weight, b);
        var columns = x.reshape(-1, inFeatures).t();
        var product = b is null ? mm(weight, columns) : addmm(b.unsqueeze(1), weight, columns, 1, 1);
        return product.t().contiguous().view([.. x.shape[..^1], weight.shape[0]]);
    }
}
