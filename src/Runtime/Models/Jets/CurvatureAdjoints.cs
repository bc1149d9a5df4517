using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models.Jets;

/// <summary>The outputs of a layer's non-linear operations, where a jet's second derivative can be retired.</summary>
internal enum CurvaturePoint
{
    /// <summary>The attention norm's output (the queries', keys' and values' input).</summary>
    AttentionNorm,
    /// <summary>The attention pattern (scores' product, soft cap and softmax behind it).</summary>
    Pattern,
    /// <summary>z, the pattern times the values.</summary>
    Z,
    /// <summary>Gemma-2's norm after the attention.</summary>
    AttentionPostNorm,
    /// <summary>The MLP norm's output.</summary>
    MlpNorm,
    /// <summary>The MLP's activation (times its gate).</summary>
    MlpPost,
    /// <summary>Gemma-2's norm after the MLP.</summary>
    MlpPostNorm,
}

/// <summary>
/// φ″(0) without pushing ẍ through the weights: ẍ obeys a linear recurrence whose sources are the non-linear
/// operations' f″[ẋ, ẋ], so φ″(0) = Σ_k ȳ_kᵀ s_k, with ȳ_k = ∂M/∂(output of k) at the clean run — one backward gives
/// every ȳ_k for every component at once (AtP's own). A plain run <see cref="Capture"/>s: it keeps each point's
/// output, and the backward's gradient with respect to it is ȳ_k. A jet forward at t = 0 <see cref="Retire"/>s: at
/// each point it takes ȳ_kᵀẍ and goes on with ẍ = 0, so the linear maps after it carry the value and ẋ only (one
/// row per component instead of two).
/// </summary>
internal sealed class CurvatureAdjoints
{
    private readonly Dictionary<(int Layer, CurvaturePoint Point), Tensor> _tensors = [];
    private readonly IReadOnlyList<CurvatureAdjoints>? _rows;

    private CurvatureAdjoints(IReadOnlyList<CurvatureAdjoints>? rows) => _rows = rows;

    /// <summary>A capture for a plain run: every point's output kept, to take the gradient with respect to.</summary>
    public static CurvatureAdjoints ForCapture() => new(null);

    /// <summary>Adjoints for a jet forward whose value row i is the clean run of <paramref name="valueRows"/>[i]'s.</summary>
    public static CurvatureAdjoints ForJets(IReadOnlyList<CurvatureAdjoints> valueRows) => new(valueRows);

    /// <summary>The outputs a capture kept, by layer and point.</summary>
    public IReadOnlyDictionary<(int Layer, CurvaturePoint Point), Tensor> Outputs => _tensors;

    /// <summary>The adjoints of one batch row, from a captured run's gradients with respect to its outputs.</summary>
    public static CurvatureAdjoints FromGradients(IReadOnlyDictionary<(int, CurvaturePoint), Tensor> gradients, int row)
    {
        var adjoints = new CurvatureAdjoints(null);
        // A copy of the row, not a view: a view would keep every row of the batch's gradients alive.
        foreach (var (key, gradient) in gradients) adjoints._tensors[key] = gradient.narrow(0, row, 1).detach().clone();
        return adjoints;
    }

    /// <summary>Σ over the jets' retired points of ȳᵀẍ, one per derivative row, or null before any. Outside every
    /// dispose scope (the layers' scopes end before the forward does): the reader disposes it.</summary>
    public Tensor? Retired { get; private set; }

    /// <summary>How many times ẍ was retired (a point per layer and operation that saw one).</summary>
    public int Retirements { get; private set; }

    /// <summary>In a capturing run: keeps the activation (unchanged), whose gradient will be its adjoint — the
    /// graph's own tensor, so no offset is allocated and added (zero offsets had cost a 48-row pass a quarter more).</summary>
    public Tensor Capture(int layer, CurvaturePoint point, Tensor activation, TorchSharp.DisposeScope? layerScope)
    {
        if (!activation.requires_grad) return activation; // nothing upstream is differentiated: no adjoint needed
        layerScope?.MoveToOuter(activation); // autograd.grad needs it after the layer's scope ends
        _tensors[(layer, point)] = activation;
        return activation;
    }

    /// <summary>In a jet forward: retires ẍ at the point, where every value row's adjoint is known (else keeps it).</summary>
    public Jet Retire(int layer, CurvaturePoint point, Jet activation)
    {
        if (activation.Second is null || _rows is null || _rows.Any(r => !r._tensors.ContainsKey((layer, point)))) return activation;
        var shape = activation.Second.shape;
        var adjoint = cat(_rows.Select(r => Align(r._tensors[(layer, point)], shape)).ToArray());
        var (remaining, contribution) = activation.Retire(adjoint);
        var previous = Retired;
        Retired = (previous is null ? contribution! : previous + contribution!).DetachFromDisposeScope();
        previous?.Dispose();
        Retirements++;
        return remaining;
    }

    // The adjoint over the jet's positions: both cover a suffix of the prompt on each position axis (a run resumes at a
    // later position; a trimmed last layer computes one query), so the adjoint's last entries are taken; a shorter
    // adjoint (a captured pass that skipped a shared prefix) is padded with zeros at the front, where ẍ is zero anyway
    // (no patch reaches a position before the prompts' first difference).
    private static Tensor Align(Tensor adjoint, long[] shape)
    {
        var x = adjoint;
        for (int d = 1; d < shape.Length; d++)
        {
            long have = x.shape[d], want = shape[d];
            if (have > want) x = x.narrow(d, have - want, want);
            else if (have < want)
                x = cat([zeros([.. x.shape.Select((size, i) => i == d ? want - have : size)], dtype: x.dtype, device: x.device), x], d);
        }
        return x;
    }
}
