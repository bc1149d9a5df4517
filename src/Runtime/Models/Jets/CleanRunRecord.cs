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

/// <summary>The outputs of a layer's linear maps, whose clean value a jet at t = 0 takes instead of computing it.</summary>
internal enum LinearOutput
{
    /// <summary>The query projection's (before rotary).</summary>
    Query,
    /// <summary>The key projection's (before rotary); from the clean cache's keys.</summary>
    Key,
    /// <summary>The value projection's; from the clean cache's values.</summary>
    Value,
    /// <summary>The attention's output projection's.</summary>
    Attention,
    /// <summary>The MLP's first projection's (its gate when gated).</summary>
    MlpIn,
    /// <summary>A gated MLP's up projection's.</summary>
    MlpUp,
    /// <summary>The MLP's down projection's.</summary>
    MlpOut,
}

/// <summary>
/// What a jet forward at t = 0 takes from the clean run instead of computing it: there every jet's value is the clean
/// run's, so the value needs no products with the weights (each linear map's clean output is kept: <see cref="Keep"/>,
/// <see cref="Output"/>), and φ″(0) needs no ẍ pushed through them: ẍ obeys a linear recurrence whose sources are
/// the non-linear operations' f″[ẋ, ẋ], so φ″(0) = Σ_k ȳ_kᵀ s_k, with ȳ_k = ∂M/∂(output of k) at the clean run — one
/// backward gives every ȳ_k for every component at once (AtP's own). A plain run <see cref="Capture"/>s each point's
/// output, and the backward's gradient with respect to it is ȳ_k; a jet forward <see cref="Retire"/>s: at each point
/// it takes ȳ_kᵀẍ and goes on with ẍ = 0. So the weights multiply ẋ alone: one row per component, where value, ẋ
/// and ẍ had made it three (GPT-2 small, 16 tokens: jets for one or two heads 20 % faster for their value alone).
/// </summary>
internal sealed class CleanRunRecord : IDisposable
{
    private readonly Dictionary<(int Layer, CurvaturePoint Point), Tensor> _atCurvature = [];
    private readonly Dictionary<(int Layer, LinearOutput Output), Tensor> _linear = [];
    private readonly IReadOnlyList<CleanRunRecord>? _rows;

    private CleanRunRecord(IReadOnlyList<CleanRunRecord>? rows) => _rows = rows;

    /// <summary>A capture for a plain run: every point's output kept, to take the gradient with respect to, and every
    /// linear map's output.</summary>
    public static CleanRunRecord ForCapture() => new(null);

    /// <summary>The records of a jet forward whose value row i is the clean run of <paramref name="valueRows"/>[i].</summary>
    public static CleanRunRecord ForJets(IReadOnlyList<CleanRunRecord> valueRows) => new(valueRows);

    /// <summary>The outputs of non-linear operations a capture kept, by layer and point.</summary>
    public IReadOnlyDictionary<(int Layer, CurvaturePoint Point), Tensor> Outputs => _atCurvature;

    /// <summary>The linear maps' outputs a capture kept (every batch row), by layer and map.</summary>
    public IReadOnlyDictionary<(int Layer, LinearOutput Output), Tensor> LinearOutputs => _linear;

    /// <summary>
    /// One batch row's record, from a captured run's gradients with respect to its outputs (the adjoints), its linear
    /// maps' outputs, and the row's clean keys and values per layer ([1, T, kv heads, d]: the key and value
    /// projections' outputs, which the clean cache holds already).
    /// </summary>
    public static CleanRunRecord FromPass(IReadOnlyDictionary<(int, CurvaturePoint), Tensor> gradients,
        IReadOnlyDictionary<(int, LinearOutput), Tensor> linearOutputs, int row, IReadOnlyList<Tensor> keys, IReadOnlyList<Tensor> values)
    {
        var record = new CleanRunRecord(null);
        // Copies of the row, not views: a view would keep every row of the batch alive.
        foreach (var (key, gradient) in gradients) record._atCurvature[key] = gradient.narrow(0, row, 1).detach().clone();
        foreach (var (key, output) in linearOutputs) record._linear[key] = output.narrow(0, row, 1).clone();
        for (int l = 0; l < keys.Count; l++)
        {
            record._linear[(l, LinearOutput.Key)] = keys[l].flatten(2);
            record._linear[(l, LinearOutput.Value)] = values[l].flatten(2);
        }
        return record;
    }

    /// <summary>Moves the record's tensors to <paramref name="scope"/>'s outer scope, so they outlive it.</summary>
    public CleanRunRecord KeepBeyond(TorchSharp.DisposeScope scope)
    {
        scope.MoveToOuter(_atCurvature.Values.Concat(_linear.Values));
        return this;
    }

    /// <summary>Bytes the record's own tensors take (the keys and values are the clean cache's).</summary>
    public long Bytes => Owned.Sum(t => t.numel() * t.ElementSize);

    /// <summary>Frees the record's own tensors.</summary>
    public void Dispose()
    {
        foreach (var tensor in Owned) tensor.Dispose();
        _atCurvature.Clear();
        _linear.Clear();
    }

    private IEnumerable<Tensor> Owned => _atCurvature.Values.Concat(_linear.Where(kv => kv.Key.Output is not (LinearOutput.Key or LinearOutput.Value)).Select(kv => kv.Value));

    /// <summary>Σ over the jets' retired points of ȳᵀẍ, one per derivative row, or null before any. Outside every
    /// dispose scope (the layers' scopes end before the forward does): the reader disposes it.</summary>
    public Tensor? Retired { get; private set; }

    /// <summary>How many times ẍ was retired (a point per layer and operation that saw one).</summary>
    public int Retirements { get; private set; }

    /// <summary>How many linear maps' values a jet forward took from the record.</summary>
    public int OutputsTaken { get; private set; }

    /// <summary>In a capturing run: keeps the activation (unchanged), whose gradient will be its adjoint — the
    /// graph's own tensor, so no offset is allocated and added (zero offsets had cost a 48-row pass a quarter more).</summary>
    public Tensor Capture(int layer, CurvaturePoint point, Tensor activation, TorchSharp.DisposeScope? layerScope)
    {
        if (!activation.requires_grad) return activation; // nothing upstream is differentiated: no adjoint needed
        layerScope?.MoveToOuter(activation); // autograd.grad needs it after the layer's scope ends
        _atCurvature[(layer, point)] = activation;
        return activation;
    }

    /// <summary>In a capturing run: keeps a linear map's output (unchanged; its value, beyond the layer's scope).</summary>
    public Tensor Keep(int layer, LinearOutput output, Tensor value, TorchSharp.DisposeScope? layerScope)
    {
        var kept = value.detach();
        layerScope?.MoveToOuter(kept);
        _linear[(layer, output)] = kept;
        return value;
    }

    /// <summary>
    /// In a jet forward: the clean value of a linear map's output over its last <paramref name="positions"/>
    /// positions, a row per value row — or null where a value row's record lacks it or covers fewer positions (a
    /// trimmed last layer kept one query), and the jet computes it.
    /// </summary>
    public Tensor? Output(int layer, LinearOutput output, long positions)
    {
        if (_rows is null) return null;
        var rows = new Tensor[_rows.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            if (!_rows[i]._linear.TryGetValue((layer, output), out var kept) || kept.shape[1] < positions) return null;
            rows[i] = kept.narrow(1, kept.shape[1] - positions, positions);
        }
        OutputsTaken++;
        return rows.Length == 1 ? rows[0] : cat(rows);
    }

    /// <summary>In a jet forward: retires ẍ at the point, where every value row's adjoint is known (else keeps it).</summary>
    public Jet Retire(int layer, CurvaturePoint point, Jet activation)
    {
        if (activation.Second is null || _rows is null || _rows.Any(r => !r._atCurvature.ContainsKey((layer, point)))) return activation;
        var shape = activation.Second.shape;
        var adjoint = cat(_rows.Select(r => Align(r._atCurvature[(layer, point)], shape)).ToArray());
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
