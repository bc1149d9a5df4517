using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>One transformer block: pre-norm attention and MLP, sequential or parallel residual, with Gemma-2's
/// optional post-norms on each branch.</summary>
public sealed class DecoderLayer : nn.Module
{
    private readonly Norm attn_norm;
    private readonly Norm? mlp_norm, post_attn_norm, post_mlp_norm;
    private readonly Attention attn;
    private readonly Mlp? mlp;
    private readonly bool _parallel;
    private readonly int _layer;

    /// <summary>Creates block <paramref name="layer"/>.</summary>
    public DecoderLayer(ModelConfig c, int layer) : base($"layer{layer}")
    {
        _layer = layer;
        _parallel = c.ParallelResidual;
        attn_norm = new Norm("attn_norm", c.Hidden, c.Norm, c.NormEps);
        if (c.PostNorms) post_attn_norm = new Norm("post_attn_norm", c.Hidden, c.Norm, c.NormEps);
        attn = new Attention(c, layer);
        if (!c.AttentionOnly)
        {
            mlp_norm = new Norm("mlp_norm", c.Hidden, c.Norm, c.NormEps);
            if (c.PostNorms) post_mlp_norm = new Norm("post_mlp_norm", c.Hidden, c.Norm, c.NormEps);
            mlp = new Mlp(c, layer);
        }
        RegisterComponents();
    }

    /// <summary>The block's attention.</summary>
    public Attention Attention => attn;

    /// <summary>The norm between the residual stream and the attention's query, key and value projections.</summary>
    public Norm AttentionNorm => attn_norm;

    /// <summary>Gemma-2's norm between the attention's output projection and the residual stream, or null.</summary>
    public Norm? AttentionPostNorm => post_attn_norm;

    /// <summary>
    /// Runs the block on the residual stream at positions s.Start… ([B, T − s.Start, D]; see
    /// <see cref="ForwardState.Start"/>); with <paramref name="queryFrom"/> only positions queryFrom… come out (every
    /// position still serves as key and value): [B, T − queryFrom, D].
    /// </summary>
    public Tensor Forward(Tensor resid, ForwardState s, long? queryFrom = null)
    {
        bool frozen = s.Modification?.FrozenNormStatistics == true;
        resid = s.Hook(SiteKind.ResidPre, _layer, resid);

        var a = attn.Forward(s.AtCurvature(CurvaturePoint.AttentionNorm, _layer, attn_norm.Forward(resid, frozen)), s, queryFrom);
        resid = ForwardState.Positions(resid, (queryFrom ?? s.Start) - s.Start);
        if (post_attn_norm is not null) a = s.AtCurvature(CurvaturePoint.AttentionPostNorm, _layer, post_attn_norm.Forward(a, frozen));
        a = s.Hook(SiteKind.AttnOut, _layer, a);

        var mid = _parallel ? resid : s.Hook(SiteKind.ResidMid, _layer, resid + a);
        if (mlp is null) return s.Hook(SiteKind.ResidPost, _layer, mid);
        var f = mlp.Forward(s.AtCurvature(CurvaturePoint.MlpNorm, _layer, mlp_norm!.Forward(mid, frozen)), s);
        if (post_mlp_norm is not null) f = s.AtCurvature(CurvaturePoint.MlpPostNorm, _layer, post_mlp_norm.Forward(f, frozen));
        f = s.Hook(SiteKind.MlpOut, _layer, f);

        var output = _parallel ? resid + a + f : mid + f;
        return s.Hook(SiteKind.ResidPost, _layer, output);
    }

    /// <summary>Runs the block on a jet of the residual stream (Taylor-mode forward), outputs from <paramref name="queryFrom"/> on.</summary>
    public Jet Forward(Jet resid, ForwardState s, long? queryFrom = null)
    {
        resid = s.Hook(SiteKind.ResidPre, _layer, resid);
        var a = attn.Forward(s.AtCurvature(CurvaturePoint.AttentionNorm, _layer, attn_norm.Forward(resid)), s, queryFrom);
        resid = resid.Map(t => ForwardState.Positions(t, (queryFrom ?? s.Start) - s.Start));
        if (post_attn_norm is not null) a = s.AtCurvature(CurvaturePoint.AttentionPostNorm, _layer, post_attn_norm.Forward(a));
        a = s.Hook(SiteKind.AttnOut, _layer, a);

        var mid = _parallel ? resid : s.Hook(SiteKind.ResidMid, _layer, resid + a);
        if (mlp is null) return s.Hook(SiteKind.ResidPost, _layer, mid);
        var f = mlp.Forward(s.AtCurvature(CurvaturePoint.MlpNorm, _layer, mlp_norm!.Forward(mid)), s);
        if (post_mlp_norm is not null) f = s.AtCurvature(CurvaturePoint.MlpPostNorm, _layer, post_mlp_norm.Forward(f));
        f = s.Hook(SiteKind.MlpOut, _layer, f);
        return s.Hook(SiteKind.ResidPost, _layer, _parallel ? resid + a + f : mid + f);
    }
}
