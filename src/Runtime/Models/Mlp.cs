using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>The feed-forward block: <c>down(act(gate(x)) · up(x))</c> when gated, else <c>down(act(up(x)))</c>.</summary>
public sealed class Mlp : nn.Module
{
    private readonly Projection? gate_proj;
    private readonly Projection up_proj, down_proj;
    private readonly Activation _act;
    private readonly int _layer;

    /// <summary>Creates layer <paramref name="layer"/>'s MLP.</summary>
    public Mlp(ModelConfig config, int layer) : base("mlp")
    {
        _act = config.Act;
        _layer = layer;
        gate_proj = config.GatedMlp ? new Projection("gate_proj", config.Hidden, config.Intermediate, config.MlpBias) : null;
        up_proj = new Projection("up_proj", config.Hidden, config.Intermediate, config.MlpBias);
        down_proj = new Projection("down_proj", config.Intermediate, config.Hidden, config.MlpBias);
        RegisterComponents();
    }

    /// <summary>Runs the MLP on the normalised residual.</summary>
    public Tensor Forward(Tensor x, ForwardState s)
    {
        var pre = s.Hook(SiteKind.MlpPre, _layer, s.Project(gate_proj ?? up_proj, LinearOutput.MlpIn, _layer, x));
        var post = Activate(pre);
        if (gate_proj is not null) post = post * s.Project(up_proj, LinearOutput.MlpUp, _layer, x);
        post = s.AtCurvature(CurvaturePoint.MlpPost, _layer, s.Hook(SiteKind.MlpPost, _layer, post));
        return s.Project(down_proj, LinearOutput.MlpOut, _layer, post);
    }

    /// <summary>Runs the MLP on a jet of the normalised residual.</summary>
    public Jet Forward(Jet x, ForwardState s)
    {
        var pre = s.Hook(SiteKind.MlpPre, _layer, s.Project(gate_proj ?? up_proj, LinearOutput.MlpIn, _layer, x));
        var post = pre.Elementwise(JetFunctions.For(_act));
        if (gate_proj is not null) post = post * s.Project(up_proj, LinearOutput.MlpUp, _layer, x);
        post = s.AtCurvature(CurvaturePoint.MlpPost, _layer, s.Hook(SiteKind.MlpPost, _layer, post));
        return s.Project(down_proj, LinearOutput.MlpOut, _layer, post);
    }

    private Tensor Activate(Tensor x) => _act switch
    {
        Activation.Gelu => nn.functional.gelu(x),
        Activation.GeluTanh => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        Activation.Silu => nn.functional.silu(x),
        Activation.Relu => nn.functional.relu(x),
        _ => throw new InvalidOperationException($"activation {_act}"),
    };
}
