using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Sites;

/// <summary>
/// A change made to one site's activation during a forward pass. Interventions are data: which site, which tensor,
/// which entries; the model applies them at its explicit hook points.
/// </summary>
public abstract class Intervention
{
    /// <summary>Creates an intervention at <paramref name="site"/>.</summary>
    protected Intervention(Site site) => Site = site;

    /// <summary>The site changed.</summary>
    public Site Site { get; }

    /// <summary>Returns the activation to use in place of <paramref name="activation"/>.</summary>
    public abstract Tensor Apply(Tensor activation);
}

/// <summary>Replaces the activation with <c>value</c> where <c>mask</c> is true (everywhere when it is null).
/// Both broadcast against the activation's shape.</summary>
public sealed class Replace(Site site, Tensor value, Tensor? mask = null) : Intervention(site)
{
    /// <inheritdoc />
    public override Tensor Apply(Tensor activation) =>
        mask is null ? value.expand_as(activation) : where(mask, value, activation);
}

/// <summary>Adds <c>offset</c> (broadcast against the activation). The offset may require grad, so autograd can
/// differentiate a metric with respect to it — e.g. a per-row scalar t in <c>a + t·δ</c>.</summary>
public sealed class AddOffset(Site site, Tensor offset) : Intervention(site)
{
    /// <inheritdoc />
    public override Tensor Apply(Tensor activation) => activation + offset;
}

/// <summary>Builds boolean masks that select rows, positions and heads of a site's activation.</summary>
public static class SiteMask
{
    /// <summary>
    /// A mask broadcastable to the site's activation <c>[B, ...]</c> that is true at the given batch rows,
    /// positions (query positions for scores/pattern) and heads; a null selector selects everything.
    /// </summary>
    public static Tensor Select(Site site, long[] activationShape, Device device,
        IReadOnlyList<long>? rows = null, IReadOnlyList<long>? positions = null, IReadOnlyList<long>? heads = null)
    {
        var mask = ones(activationShape, dtype: ScalarType.Bool, device: device);
        (int posDim, int headDim) = Axes(site.Kind);
        if (heads is not null && headDim < 0)
            throw new SiteOutOfRangeException($"Site {site} has no head dimension; select heads only at attention sites.");
        mask = Restrict(mask, 0, rows, activationShape);
        mask = Restrict(mask, posDim, positions, activationShape);
        if (headDim >= 0) mask = Restrict(mask, headDim, heads, activationShape);
        return mask;
    }

    /// <summary>The position axis (query positions for scores/pattern) and head axis (−1: none) of a site's activation, counting batch as axis 0.</summary>
    public static (int Position, int Head) Axes(SiteKind kind) => kind switch
    {
        SiteKind.AttnScores or SiteKind.AttnPattern => (2, 1),
        SiteKind.AttnQ or SiteKind.AttnK or SiteKind.AttnV or SiteKind.AttnZ or SiteKind.AttnResult => (1, 2),
        _ => (1, -1),
    };

    private static Tensor Restrict(Tensor mask, int dim, IReadOnlyList<long>? indices, long[] shape)
    {
        if (indices is null) return mask;
        foreach (long i in indices)
            if (i < 0 || i >= shape[dim])
                throw new SiteOutOfRangeException($"Index {i} is outside dimension {dim} of size {shape[dim]}.");
        var keep = zeros(shape[dim], dtype: ScalarType.Bool, device: mask.device);
        keep[tensor(indices.ToArray(), device: mask.device)] = tensor(true, device: mask.device);
        var view = Enumerable.Repeat(1L, shape.Length).ToArray();
        view[dim] = shape[dim];
        return mask & keep.view(view);
    }
}

/// <summary>Keeps the forward value but stops gradients in the selected batch rows (AtP*'s GradDrop).</summary>
public sealed class StopGradient(Site site, Tensor rowMask) : Intervention(site)
{
    /// <inheritdoc />
    public override Tensor Apply(Tensor activation)
    {
        var view = Enumerable.Repeat(1L, (int)activation.dim()).ToArray();
        view[0] = activation.shape[0];
        return where(rowMask.view(view), activation.detach(), activation);
    }
}
