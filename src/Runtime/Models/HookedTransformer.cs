using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Platform;
using CircuitDsl.Runtime.Sites;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>
/// A decoder-only transformer of any supported family, with explicit hook points at every site. One class: the
/// families differ by <see cref="ModelConfig"/> flags.
/// </summary>
public sealed class HookedTransformer : nn.Module
{
    private readonly Parameter embed;
    private readonly Parameter? pos_embed;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly Norm final_norm;
    private readonly Parameter? unembed;

    // Before any model runs, so before MKL's first call (it caches the answer).
    static HookedTransformer() => MklOnAmd.Apply();

    /// <summary>Creates an uninitialised model; <see cref="ModelLoader"/> fills the weights.</summary>
    public HookedTransformer(ModelConfig config) : base(config.Family.ToString())
    {
        Config = config;
        embed = new Parameter(empty(config.VocabSize, config.Hidden), requires_grad: false);
        pos_embed = config.LearnedPositions ? new Parameter(empty(config.MaxPositions, config.Hidden), requires_grad: false) : null;
        layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, config.Layers).Select(i => new DecoderLayer(config, i)).ToArray());
        final_norm = new Norm("final_norm", config.Hidden, config.Norm, config.NormEps);
        unembed = config.TiedEmbeddings ? null : new Parameter(empty(config.VocabSize, config.Hidden), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>The model's shape and flags.</summary>
    public ModelConfig Config { get; }

    /// <summary>The device the weights live on.</summary>
    public Device Device => embed.device;

    /// <summary>The weights' dtype (activations have the same).</summary>
    public ScalarType DType => embed.dtype;

    /// <summary>Layer <paramref name="i"/>.</summary>
    public DecoderLayer Layer(int i) => layers[i];

    /// <summary>Unembedding matrix [V, D] (the token embedding when tied).</summary>
    public Tensor Unembedding => unembed ?? embed;

    /// <summary>Full forward pass; returns logits [B, T, V].</summary>
    public Tensor Forward(ModelInput input, HookPlan? hooks = null, BackwardModification? modification = null)
    {
        var state = CreateState(input, hooks, modification);
        return Run(0, Embed(input, state), state);
    }

    /// <summary>
    /// Forward from the residual stream entering <paramref name="layer"/> (everything upstream unchanged, e.g. taken
    /// from a cache): the cheap way to re-run only what a patch at that layer can change.
    /// </summary>
    public Tensor ForwardFrom(int layer, Tensor residPre, ModelInput input, HookPlan? hooks = null, BackwardModification? modification = null)
    {
        if (layer < 0 || layer > Config.Layers)
            throw new SiteOutOfRangeException($"Layer {layer} is outside 0..{Config.Layers}.");
        var state = CreateState(input, hooks, modification);
        return Run(layer, residPre, state);
    }

    /// <summary>
    /// Forward that returns only the logits the caller reads: for each row b, positions[b] and the given token
    /// columns, [B, k] (every column, [B, V], when <paramref name="tokens"/> is null). The unembedding of every other
    /// position (a 50257-wide matmul per position in GPT-2) is skipped, so metric-only runs (patching, HVP rows) cost
    /// less. Falls back to full logits when the plan hooks final_norm or logits. Resumes from a clean run's cache when <paramref name="start"/> says where (<see cref="CachedStart"/>).
    /// </summary>
    public Tensor ForwardSelected(ModelInput input, Tensor positions, long[]? tokens, HookPlan? hooks = null,
        BackwardModification? modification = null, CachedStart? start = null)
    {
        var state = CreateState(input, hooks, modification);
        Resume(state, input, start, positions);
        var resid = start is null ? Embed(input, state) : ForwardState.Positions(start.ResidPre, state.Start);
        int firstLayer = start?.Layer ?? 0;
        if (state.Touches(SiteKind.FinalNorm, 0) || state.Touches(SiteKind.Logits, 0))
        {
            if (state.Start > 0) throw new ArgumentException("A run that resumes at a later position cannot hook final_norm or logits.", nameof(start));
            var full = Run(firstLayer, resid, state);
            var rows = arange(full.shape[0], device: full.device);
            var last = full[rows, positions.to(full.device)];
            return tokens is null ? last : last.index_select(1, tensor(tokens, device: full.device));
        }
        Tensor read;
        if (SharedPosition(positions) is long position && TrimsLastLayer(firstLayer, state))
            read = RunLayersReading(firstLayer, resid, state, position);
        else
        {
            resid = RunLayers(firstLayer, resid, state);
            read = resid[arange(resid.shape[0], device: resid.device), positions.to(resid.device) - state.Start]; // [B, D]
        }
        var normed = final_norm.Forward(read, state.Modification?.FrozenNormStatistics == true);
        return Softcap.Apply(matmul(normed, Columns(tokens).t()), Config.FinalSoftcap);
    }

    /// <summary>
    /// Taylor-mode forward resumed from a clean run's cache at <paramref name="start"/>: pushes jets through the
    /// remaining layers, patching where <paramref name="jets"/> says, and returns the jet of the selected logits at
    /// <paramref name="position"/>, [B, k] (every column when <paramref name="tokens"/> is null). One pass gives φ, φ′
    /// and φ″ of any metric of those logits.
    /// <paramref name="input"/> supplies masks and positions (batch 1 broadcasts against the jets' rows).
    /// </summary>
    public Jet ForwardSelected(ModelInput input, CachedStart start, JetPlan jets, long position, long[]? tokens)
    {
        if (jets.Touches(new Site(SiteKind.FinalNorm, 0)) || jets.Touches(new Site(SiteKind.Logits, 0)))
            throw new SiteOutOfRangeException("A jet forward reads only the selected logits; patch final_norm or logits with a hook plan.");
        var state = CreateState(input);
        state.Jets = jets;
        Resume(state, input, start, full(1, position, dtype: ScalarType.Int64));
        var resid = Jet.Constant(ForwardState.Positions(start.ResidPre, state.Start));
        bool trim = TrimsLastLayer(start.Layer, state);
        for (int l = start.Layer; l < Config.Layers; l++)
            resid = RunLayer(l, resid, state, trim && l == Config.Layers - 1 ? position : null);
        var normed = final_norm.Forward(resid.Map(t => t.select(1, trim ? 0 : position - state.Start)));
        var columns = Columns(tokens);
        var logits = normed.Map(t => matmul(t, columns.t()));
        return Softcap.Apply(logits, Config.FinalSoftcap);
    }

    // The unembedding's rows for the given tokens (all of it for null).
    private Tensor Columns(long[]? tokens) => tokens is null ? Unembedding : Unembedding.index_select(0, tensor(tokens, device: Device));

    // Checks a cached start against the input and the positions read, and records it in the run's state.
    private void Resume(ForwardState state, ModelInput input, CachedStart? start, Tensor positions)
    {
        if (start is null) return;
        if (start.Layer < 0 || start.Layer > Config.Layers)
            throw new SiteOutOfRangeException($"Layer {start.Layer} is outside 0..{Config.Layers}.");
        if (start.Position == 0) return;
        if (start.Position < 0 || start.Position >= input.Positions)
            throw new ArgumentException($"A cached start at position {start.Position} is outside the prompt's {input.Positions} tokens.", nameof(start));
        if (input.AttentionMask is not null)
            throw new ArgumentException("A cached start at a later position needs unpadded input.", nameof(start));
        if (start.Keys?.Count != Config.Layers || start.Values?.Count != Config.Layers)
            throw new ArgumentException($"A cached start at position {start.Position} needs the clean keys and values of all {Config.Layers} layers.", nameof(start));
        if (positions.min().item<long>() < start.Position)
            throw new ArgumentException($"The logits read at position {positions.min().item<long>()} come before the cached start's position {start.Position}.", nameof(start));
        state.Prefix = start;
    }

    /// <summary>Creates the per-run state (masks, rotary tables) for an input.</summary>
    public ForwardState CreateState(ModelInput input, HookPlan? hooks = null, BackwardModification? modification = null)
    {
        long t = input.Positions;
        if (t > Config.MaxPositions)
            throw new ArgumentException($"Sequence of {t} tokens exceeds the model's {Config.MaxPositions} positions.");
        var device = Device;
        var ids = input.Ids.device == device ? input.Ids : input.Ids.to(device);
        var i = arange(t, device: device).unsqueeze(1);
        var j = arange(t, device: device).unsqueeze(0);
        var causal = (j > i).view(1, 1, t, t);
        var attentionMask = input.AttentionMask?.to(device);
        if (attentionMask is not null)
            causal = causal | (attentionMask == 0).view(input.Batch, 1, 1, t);
        Tensor? sliding = Config.SlidingWindow > 0 ? causal | ((i - j) >= Config.SlidingWindow).view(1, 1, t, t) : null;

        Tensor? cos = null, sin = null;
        if (Config.RotaryDims > 0)
        {
            var positions = PositionIds(ids, attentionMask);
            (cos, sin) = RotaryEmbedding.Tables(positions, Config.RotaryDims, Config.RopeTheta);
        }
        return new ForwardState(hooks, causal, sliding, cos, sin, modification);
    }

    /// <summary>Token (and position) embedding, scaled as the family requires; hook <c>embed</c>.</summary>
    public Tensor Embed(ModelInput input, ForwardState state)
    {
        var ids = input.Ids.to(Device);
        if (ids.numel() > 0 && (ids.min().item<long>() < 0 || ids.max().item<long>() >= Config.VocabSize))
            throw new ArgumentOutOfRangeException(nameof(input), $"Token ids must be in 0..{Config.VocabSize - 1}.");
        var x = embed.index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], -1);
        if (Config.EmbeddingScale != 1.0)
            x = x * tensor((float)Config.EmbeddingScale, dtype: x.dtype, device: x.device);
        if (pos_embed is not null)
            x = x + pos_embed.index_select(0, PositionIds(ids, input.AttentionMask?.to(Device)).flatten()).view(ids.shape[0], ids.shape[1], -1);
        return state.Hook(SiteKind.Embed, 0, x);
    }

    // The logits read one position, so the last layer needs only that query (its keys and values still span every
    // position): most of a layer's work saved, when no hook asks for that layer's activations at full length or the
    // plan accepts zeros there (HookPlan.TrimsLastLayer).
    private bool TrimsLastLayer(int firstLayer, ForwardState state) =>
        firstLayer < Config.Layers && (!state.TouchesLayer(Config.Layers - 1) || (state.Hooks?.TrimsLastLayer == true && state.Jets is null));

    private static long? SharedPosition(Tensor positions)
    {
        var p = positions.cpu();
        long first = p[0].item<long>();
        return p.eq(first).all().item<bool>() ? first : null;
    }

    // Runs the layers, the last one for the query at `position` only, and returns that position's residual [B, D].
    private Tensor RunLayersReading(int firstLayer, Tensor resid, ForwardState state, long position)
    {
        for (int l = firstLayer; l < Config.Layers - 1; l++)
            resid = RunLayer(l, resid, state);
        return RunLayer(Config.Layers - 1, resid, state, queryFrom: position).select(1, 0);
    }

    private Tensor RunLayers(int firstLayer, Tensor resid, ForwardState state)
    {
        for (int l = firstLayer; l < Config.Layers; l++)
            resid = RunLayer(l, resid, state);
        return resid;
    }

    // One layer in its own dispose scope: its temporaries are freed when it ends (autograd keeps what a backward
    // needs; cached activations move out), so a pass holds one layer's temporaries at a time, not every layer's.
    private Tensor RunLayer(int l, Tensor resid, ForwardState state, long? queryFrom = null)
    {
        using var scope = NewDisposeScope();
        state.LayerScope = scope;
        state.QueriesFrom = queryFrom > state.Start ? queryFrom : null;
        try
        {
            return scope.MoveToOuter(layers[l].Forward(resid, state, queryFrom));
        }
        finally
        {
            state.LayerScope = null;
            state.QueriesFrom = null;
        }
    }

    // The same for a jet: its parts made in the layer move out, every other temporary is freed.
    private Jet RunLayer(int l, Jet resid, ForwardState state, long? queryFrom)
    {
        using var scope = NewDisposeScope();
        return layers[l].Forward(resid, state, queryFrom).KeepBeyond(scope);
    }

    private Tensor Run(int firstLayer, Tensor resid, ForwardState state)
    {
        resid = RunLayers(firstLayer, resid, state);
        var normed = state.Hook(SiteKind.FinalNorm, 0, final_norm.Forward(resid, state.Modification?.FrozenNormStatistics == true));
        var logits = Softcap.Apply(matmul(normed, Unembedding.t()), Config.FinalSoftcap);
        return state.Hook(SiteKind.Logits, 0, logits);
    }

    private static Tensor PositionIds(Tensor ids, Tensor? attentionMask)
    {
        long b = ids.shape[0], t = ids.shape[1];
        if (attentionMask is null)
            return arange(t, device: ids.device).unsqueeze(0).expand(b, t);
        return (attentionMask.cumsum(1) - 1).clamp_min(0);
    }
}
