using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// Multi-head attention written out as matmul + softmax (fused SDPA has no double backward), with GQA, rotary,
/// soft-capping and sliding windows as config flags, and a hook point at every TransformerLens site.
/// </summary>
public sealed class Attention : nn.Module
{
    private readonly Projection q_proj, k_proj, v_proj, o_proj;
    private readonly ModelConfig _c;
    private readonly int _layer;
    private readonly bool _slides;

    /// <summary>Creates layer <paramref name="layer"/>'s attention.</summary>
    public Attention(ModelConfig config, int layer) : base("attn")
    {
        _c = config;
        _layer = layer;
        _slides = config.Slides(layer);
        q_proj = new Projection("q_proj", config.Hidden, config.Heads * config.HeadDim, config.QkvBias);
        k_proj = new Projection("k_proj", config.Hidden, config.KvHeads * config.HeadDim, config.QkvBias);
        v_proj = new Projection("v_proj", config.Hidden, config.KvHeads * config.HeadDim, config.QkvBias);
        o_proj = new Projection("o_proj", config.Heads * config.HeadDim, config.Hidden, config.OutBias);
        RegisterComponents();
    }

    /// <summary>The output projection W_O [D, H·d] (per-head slices give each head's write to the residual).</summary>
    public Projection Output => o_proj;

    /// <summary>The query, key or value projection [H·d or G·d, D] (before rotary embedding, where <c>attn.q/k/v</c> are read).</summary>
    public Projection Input(SiteKind kind) => kind switch
    {
        SiteKind.AttnQ => q_proj,
        SiteKind.AttnK => k_proj,
        SiteKind.AttnV => v_proj,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Attention's inputs are attn.q, attn.k and attn.v."),
    };

    /// <summary>
    /// Runs attention on the normalised residual <paramref name="x"/> [B, T − s.Start, D] (positions s.Start…, see
    /// <see cref="ForwardState.Start"/>; keys and values of earlier positions come from its cache) for the queries at
    /// positions <paramref name="queryFrom"/>… (default s.Start): [B, T − queryFrom, D].
    /// </summary>
    public Tensor Forward(Tensor x, ForwardState s, long? queryFrom = null)
    {
        long from = queryFrom ?? s.Start;
        long b = x.shape[0], have = x.shape[1], tq = s.Length - from;
        int h = _c.Heads, g = _c.KvHeads, d = _c.HeadDim;
        var m = s.Modification;

        // Keys and values need no record: the clean cache holds them.
        var q = s.Hook(SiteKind.AttnQ, _layer, s.Project(q_proj, LinearOutput.Query, _layer, ForwardState.Positions(x, from - s.Start)).view(b, tq, h, d));
        var k = s.Hook(SiteKind.AttnK, _layer, k_proj.Forward(x).view(b, have, g, d));
        var v = s.Hook(SiteKind.AttnV, _layer, v_proj.Forward(x).view(b, have, g, d));
        if (m is not null)
        {
            q = ScaleGradient(q, m.QueryGradScale);
            k = ScaleGradient(k, m.KeyGradScale);
            v = ScaleGradient(v, m.ValueGradScale);
        }
        if (_c.RotaryDims > 0)
        {
            q = Rotate(q, s, from);
            k = Rotate(k, s, s.Start);
        }
        if (s.Start > 0)
        {
            k = cat([CachedPrefix(s.Prefix!.Keys!, s, b, rotate: true), k], 1);
            v = cat([CachedPrefix(s.Prefix!.Values!, s, b, rotate: false), v], 1);
        }
        if (g != h)
        {
            // Query head i reads key/value head i / (h/g), as HF's repeat_kv.
            k = k.repeat_interleave(h / g, dim: 2);
            v = v.repeat_interleave(h / g, dim: 2);
        }

        var scores = Softcap.Apply(matmul(q.transpose(1, 2), k.permute(0, 2, 3, 1)) * _c.EffectiveAttentionScale, _c.AttentionSoftcap); // [B,H,T,T]
        // A large finite negative keeps fully masked (padding) rows finite; exp underflows to exactly 0.
        scores = scores.masked_fill(ForwardState.QueryRows(_slides ? s.SlidingMask! : s.CausalMask, from), -1e30);
        scores = s.Hook(SiteKind.AttnScores, _layer, scores);

        var pattern = Softmax(Precision.AtLeastFloat32(scores), m?.SoftmaxBackwardTemperature ?? 1.0).to_type(v.dtype);
        pattern = s.AtCurvature(CurvaturePoint.Pattern, _layer, s.Hook(SiteKind.AttnPattern, _layer, pattern));

        var z = s.AtCurvature(CurvaturePoint.Z, _layer, s.Hook(SiteKind.AttnZ, _layer, matmul(pattern, v.transpose(1, 2)).transpose(1, 2))); // [B,T,H,d]

        if (!s.Touches(SiteKind.AttnResult, _layer))
            return s.Project(o_proj, LinearOutput.Attention, _layer, z.reshape(b, tq, h * d));

        // Per-head writes to the residual, only when asked: [B,T,H,D].
        var wo = o_proj.Weight.view(_c.Hidden, h, d);
        var result = s.Hook(SiteKind.AttnResult, _layer, einsum("bthd,mhd->bthm", z, wo));
        var output = result.sum(2);
        return o_proj.Bias is null ? output : output + o_proj.Bias;
    }

    /// <summary>
    /// Runs attention on a jet of the normalised residual: the same computation in <see cref="Jet"/> algebra (scores
    /// and z are bilinear, softmax and soft-capping have closed-form derivatives), queries from
    /// <paramref name="queryFrom"/> on. Backward modifications do not apply.
    /// </summary>
    public Jet Forward(Jet x, ForwardState s, long? queryFrom = null)
    {
        long from = queryFrom ?? s.Start;
        int h = _c.Heads, g = _c.KvHeads, d = _c.HeadDim;
        Jet Split(Jet y, int heads) => y.Map(t => t.view(t.shape[0], t.shape[1], heads, d));

        var q = s.Hook(SiteKind.AttnQ, _layer, Split(s.Project(q_proj, LinearOutput.Query, _layer, x.Map(t => ForwardState.Positions(t, from - s.Start))), h));
        var k = s.Hook(SiteKind.AttnK, _layer, Split(s.Project(k_proj, LinearOutput.Key, _layer, x), g));
        var v = s.Hook(SiteKind.AttnV, _layer, Split(s.Project(v_proj, LinearOutput.Value, _layer, x), g));
        if (_c.RotaryDims > 0)
        {
            q = q.Map(t => Rotate(t, s, from));
            k = k.Map(t => Rotate(t, s, s.Start));
        }
        if (s.Start > 0)
        {
            k = k.PrependConstant(CachedPrefix(s.Prefix!.Keys!, s, 1, rotate: true), dim: 1);
            v = v.PrependConstant(CachedPrefix(s.Prefix!.Values!, s, 1, rotate: false), dim: 1);
        }
        if (g != h)
        {
            k = k.Map(t => t.repeat_interleave(h / g, dim: 2));
            v = v.Map(t => t.repeat_interleave(h / g, dim: 2));
        }

        var scores = Softcap.Apply(Jet.MatMul(q.Map(t => t.transpose(1, 2)), k.Map(t => t.permute(0, 2, 3, 1))) * _c.EffectiveAttentionScale, _c.AttentionSoftcap);
        scores = s.Hook(SiteKind.AttnScores, _layer, scores.MaskedFill(ForwardState.QueryRows(_slides ? s.SlidingMask! : s.CausalMask, from), -1e30));
        var pattern = s.AtCurvature(CurvaturePoint.Pattern, _layer, s.Hook(SiteKind.AttnPattern, _layer, scores.Softmax(-1)));
        var z = s.AtCurvature(CurvaturePoint.Z, _layer, s.Hook(SiteKind.AttnZ, _layer, Jet.MatMul(pattern, v.Map(t => t.transpose(1, 2))).Map(t => t.transpose(1, 2))));

        if (!s.Touches(SiteKind.AttnResult, _layer))
            return s.Project(o_proj, LinearOutput.Attention, _layer, z.Map(t => t.reshape(t.shape[0], t.shape[1], h * d)));
        var wo = o_proj.Weight.view(_c.Hidden, h, d);
        var result = s.Hook(SiteKind.AttnResult, _layer, z.Map(t => einsum("bthd,mhd->bthm", t, wo)));
        var output = result.Map(t => t.sum(2));
        return o_proj.Bias is null ? output : output.Shift(o_proj.Bias);
    }

    // Rotary for positions from… of x [B, T − from, heads, d].
    private Tensor Rotate(Tensor x, ForwardState s, long from) =>
        RotaryEmbedding.Apply(x, ForwardState.Positions(s.Cos!, from), ForwardState.Positions(s.Sin!, from), _c.RotaryDims);

    // The clean run's keys or values of positions before s.Start at this layer, [batch, Start, kv heads, d]; a cache
    // with a row per batch row (runs over several prompts) keeps its rows.
    private Tensor CachedPrefix(IReadOnlyList<Tensor> cache, ForwardState s, long batch, bool rotate)
    {
        var prefix = cache[_layer].narrow(1, 0, s.Start);
        if (rotate && _c.RotaryDims > 0)
            prefix = RotaryEmbedding.Apply(prefix, s.Cos!.narrow(0, 0, 1).narrow(1, 0, s.Start), s.Sin!.narrow(0, 0, 1).narrow(1, 0, s.Start), _c.RotaryDims);
        return prefix.expand(Math.Max(batch, prefix.shape[0]), -1, -1, -1);
    }

    private static Tensor ScaleGradient(Tensor x, double scale) =>
        scale == 1.0 ? x : x.detach() + (x - x.detach()) * scale;

    private static Tensor Softmax(Tensor scores, double backwardTemperature)
    {
        var p = scores.softmax(-1);
        if (backwardTemperature == 1.0) return p;
        // Forward value p; backward uses the Jacobian of softmax at temperature T (GIM).
        var pt = (scores / backwardTemperature).softmax(-1) * backwardTemperature;
        return p.detach() + (pt - pt.detach());
    }
}
