using System;

namespace CircuitDsl;

/// <summary>
/// Binds a partial class to a model's shape. The shape comes from a Hugging Face <c>config.json</c> passed to the
/// compiler as an <c>AdditionalFiles</c> item (matched by the end of its path), or from explicit values. The
/// generator emits a typed site catalog (<c>MyModel.Sites.L9.H9.Z</c>) and validates every circuit against it.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelBindingAttribute : Attribute
{
    /// <summary>Binds to the config file whose path ends with <paramref name="configFile"/>.</summary>
    public ModelBindingAttribute(string configFile) => ConfigFile = configFile;

    /// <summary>Binds to explicit values (set <see cref="Family"/>, <see cref="Layers"/>, <see cref="Heads"/>…).</summary>
    public ModelBindingAttribute() { }

    /// <summary>Path suffix of the config.json AdditionalFiles item, or null for explicit values.</summary>
    public string? ConfigFile { get; }

    /// <summary>Family (<c>gpt2</c>, <c>gpt_neox</c>, <c>llama</c>, <c>qwen2</c>, <c>gemma2</c>) when no config file is used.</summary>
    public string? Family { get; set; }

    /// <summary>Layers, when no config file is used.</summary>
    public int Layers { get; set; }

    /// <summary>Query heads per layer, when no config file is used.</summary>
    public int Heads { get; set; }

    /// <summary>Key/value heads per layer (default: <see cref="Heads"/>).</summary>
    public int KvHeads { get; set; }

    /// <summary>MLP neurons per layer, when no config file is used.</summary>
    public int Neurons { get; set; }

    /// <summary>Blocks have no MLP.</summary>
    public bool AttentionOnly { get; set; }
}

/// <summary>
/// Marks a partial class as a circuit hypothesis about a model: its partial <see cref="ComponentGroup"/> properties,
/// annotated with <see cref="HeadsAttribute"/>, <see cref="MlpsAttribute"/>, <see cref="NeuronsAttribute"/> or
/// <see cref="ResidualAttribute"/>, name the groups of components the circuit claims.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class CircuitAttribute : Attribute
{
    /// <summary>Declares a circuit on the model bound by <paramref name="model"/> (a <see cref="ModelBindingAttribute"/> class).</summary>
    public CircuitAttribute(Type model) => Model = model;

    /// <summary>The model binding.</summary>
    public Type Model { get; }

    /// <summary>Display name (default: the class name).</summary>
    public string? Name { get; set; }
}

/// <summary>Which site of a component is patched.</summary>
public enum PatchAt
{
    /// <summary>The component's output: a head's <c>attn.z</c>, an MLP's <c>mlp_out</c>, a neuron's <c>mlp.post</c>.</summary>
    Output,
    /// <summary>A head's query input (<c>attn.q</c>).</summary>
    Query,
    /// <summary>A key/value head's key input (<c>attn.k</c>).</summary>
    Key,
    /// <summary>A key/value head's value input (<c>attn.v</c>).</summary>
    Value,
}

/// <summary>Base of the attributes that declare a group of components on a partial property.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public abstract class ComponentGroupAttribute : Attribute
{
    /// <summary>Which site is patched (heads only; MLPs, neurons and residuals always patch their output).</summary>
    public PatchAt Patch { get; set; }

    /// <summary>Restrict to one token position (−1 = all positions).</summary>
    public int Position { get; set; } = -1;
}

/// <summary>Attention heads, written <c>"layer.head"</c> (<c>"9.9"</c>).</summary>
public sealed class HeadsAttribute : ComponentGroupAttribute
{
    /// <summary>Heads as <c>"layer.head"</c>.</summary>
    public HeadsAttribute(params string[] heads) => Heads = heads;

    /// <summary>The heads as written.</summary>
    public string[] Heads { get; }
}

/// <summary>Whole MLP layers.</summary>
public sealed class MlpsAttribute : ComponentGroupAttribute
{
    /// <summary>MLP layers by index.</summary>
    public MlpsAttribute(params int[] layers) => Layers = layers;

    /// <summary>The layers.</summary>
    public int[] Layers { get; }
}

/// <summary>Individual MLP neurons of one layer.</summary>
public sealed class NeuronsAttribute : ComponentGroupAttribute
{
    /// <summary>Neurons <paramref name="indices"/> of layer <paramref name="layer"/>.</summary>
    public NeuronsAttribute(int layer, params int[] indices)
    {
        Layer = layer;
        Indices = indices;
    }

    /// <summary>The layer.</summary>
    public int Layer { get; }

    /// <summary>The neuron indices.</summary>
    public int[] Indices { get; }
}

/// <summary>The residual stream entering a layer at given positions.</summary>
public sealed class ResidualAttribute : ComponentGroupAttribute
{
    /// <summary>Residual stream entering <paramref name="layer"/> at <paramref name="positions"/>.</summary>
    public ResidualAttribute(int layer, params int[] positions)
    {
        Layer = layer;
        Positions = positions;
    }

    /// <summary>The layer.</summary>
    public int Layer { get; }

    /// <summary>The positions.</summary>
    public int[] Positions { get; }
}

/// <summary>
/// A hypothesised edge: the sender group (heads, MLPs) or the embedding (<see cref="EdgeEnd.Embedding"/>) writes,
/// through the residual stream directly, into the receiver group's query, key or value input (heads), its input (MLPs),
/// or the logits (<see cref="EdgeEnd.Logits"/>: the sender's direct effect). Runtime: <c>EdgePatching</c>,
/// <c>CarryEdge</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = true)]
public sealed class EdgeAttribute : Attribute
{
    /// <summary>An edge from group <paramref name="sender"/> to group <paramref name="receiver"/> (use nameof).</summary>
    public EdgeAttribute(string sender, string receiver)
    {
        Sender = sender;
        Receiver = receiver;
    }

    /// <summary>Sending group.</summary>
    public string Sender { get; }

    /// <summary>Receiving group.</summary>
    public string Receiver { get; }

    /// <summary>Which input of the receiving heads the edge enters (Query, Key or Value); MLPs take it at their input.</summary>
    public PatchAt Via { get; set; } = PatchAt.Query;
}

/// <summary>The ends of an edge that are not groups of the circuit: <c>[Edge(EdgeEnd.Embedding, nameof(Heads))]</c>,
/// <c>[Edge(nameof(NameMovers), EdgeEnd.Logits)]</c>.</summary>
public static class EdgeEnd
{
    /// <summary>The embedding, as the first layer reads it: sends only.</summary>
    public const string Embedding = "embed";

    /// <summary>The logits, reading the residual stream after the last layer through the final norm: receives only.</summary>
    public const string Logits = "logits";
}

/// <summary>How an experiment estimates effects.</summary>
public enum Estimator
{
    /// <summary>AtP on all, R̃ flags; flagged components get the HVP correction and their exact patched effect (the default;
    /// <see cref="ExperimentAttribute.Fix"/> can keep the HVP correction alone).</summary>
    ScreenFlagFix,
    /// <summary>Exact activation patching.</summary>
    Patching,
    /// <summary>Attribution patching only.</summary>
    Atp,
    /// <summary>Second-order correction for every component.</summary>
    Hvp,
    /// <summary>Multi-step second-order correction for every component.</summary>
    MsHvp,
    /// <summary>Integrated gradients.</summary>
    Ig,
    /// <summary>AtP* (GradDrop).</summary>
    AtpStar,
    /// <summary>GIM.</summary>
    Gim,
}

/// <summary>How Screen–Flag–Fix fixes the estimate of a component it flags.</summary>
public enum FixBy
{
    /// <summary>Exact activation patching, one forward row each: the flagged estimate is exact (the default).</summary>
    Patching,
    /// <summary>The second-order correction gᵀδ + ½δᵀHδ from the flag stage (the paper's fix): no pass of its own, bounded
    /// by |½δᵀHδ|.</summary>
    SecondOrder,
}

/// <summary>What an experiment's attribution explains, read at the last position of each prompt.</summary>
public enum Metric
{
    /// <summary>logit(answer) − logit(wrong) (the default; IOI's metric).</summary>
    LogitDifference,
    /// <summary>p(answer) − p(wrong), softmax over the whole vocabulary (the greater-than task's).</summary>
    ProbabilityDifference,
    /// <summary>log p(answer); the template needs no Wrong slot.</summary>
    LogProbability,
    /// <summary>KL(p_clean ‖ p), the next-token distribution's divergence from the clean prompt's (ACDC's metric): it
    /// reads no single token, so the template needs neither an Answer nor a Wrong slot. AtP reads ≈ 0 under it (its
    /// gradient vanishes at the clean run); the second-order estimate carries the attribution.</summary>
    KlDivergence,
}

/// <summary>
/// An experiment: a circuit, a perturbation (declared with <see cref="TemplateAttribute"/>, <see cref="SlotAttribute"/>
/// and one of <see cref="SwapSlotAttribute"/> / <see cref="RandomTokensAttribute"/> / <see cref="CorruptWithAttribute"/>),
/// a method and its thresholds. The generator emits its plan and a typed result.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ExperimentAttribute : Attribute
{
    /// <summary>An experiment on <paramref name="circuit"/> (a <see cref="CircuitAttribute"/> class).</summary>
    public ExperimentAttribute(Type circuit) => Circuit = circuit;

    /// <summary>The circuit.</summary>
    public Type Circuit { get; }

    /// <summary>Estimation method.</summary>
    public Estimator Method { get; set; } = Estimator.ScreenFlagFix;

    /// <summary>What is explained: the logit difference (default), the probability difference, the answer's log-probability
    /// or the KL divergence from the clean prompt's distribution.</summary>
    public Metric Metric { get; set; } = Metric.LogitDifference;

    /// <summary>Also run exact patching on the circuit's components, for comparison.</summary>
    public bool CompareWithPatching { get; set; } = true;

    /// <summary>How Screen–Flag–Fix fixes a flagged estimate: exact patching (default) or the second-order correction.</summary>
    public FixBy Fix { get; set; } = FixBy.Patching;

    /// <summary>Flag threshold on R̃, in (0, 1).</summary>
    public double Tau { get; set; } = 1.0 / 3;

    /// <summary>MS-HVP sub-steps, 1..64.</summary>
    public int K { get; set; } = 5;

    /// <summary>IG grid points, 2..1024.</summary>
    public int IgSteps { get; set; } = 32;

    /// <summary>Number of prompt pairs drawn from the template (≥ 1).</summary>
    public int Pairs { get; set; } = 16;

    /// <summary>Seed for drawing pairs.</summary>
    public int Seed { get; set; }
}

/// <summary>The clean prompt template, with <c>{slot}</c> placeholders, and the slots whose values are the metric's
/// answer and wrong tokens.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class TemplateAttribute : Attribute
{
    /// <summary>A template such as <c>"When {A} and {B} went to the store, {B} gave a drink to"</c>.</summary>
    public TemplateAttribute(string text) => Text = text;

    /// <summary>The template.</summary>
    public string Text { get; }

    /// <summary>Slot whose value is the correct answer on the clean prompt (not needed when the experiment's metric is <see cref="Metric.KlDivergence"/>).</summary>
    public string? Answer { get; set; }

    /// <summary>Slot whose value is the competing answer (not needed when the experiment's metric is <see cref="Metric.LogProbability"/> or <see cref="Metric.KlDivergence"/>).</summary>
    public string? Wrong { get; set; }

    /// <summary>Text put before the answer and wrong slot values to make their tokens: " " (default) for a new word
    /// ("… gave a drink to" → " Mary"), "" when the answer continues the last word ("… to the year 17" → "99").</summary>
    public string AnswerPrefix { get; set; } = " ";
}

/// <summary>Values a template slot takes (each must be one token, with its leading space, e.g. " Mary").</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = true)]
public sealed class SlotAttribute : Attribute
{
    /// <summary>Values for slot <paramref name="name"/>.</summary>
    public SlotAttribute(string name, params string[] values)
    {
        Name = name;
        Values = values;
    }

    /// <summary>Slot name.</summary>
    public string Name { get; }

    /// <summary>Values.</summary>
    public string[] Values { get; }
}

/// <summary>Corrupts by writing slot <see cref="With"/>'s value where slot <see cref="Slot"/> occurs last (a name swap).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SwapSlotAttribute : Attribute
{
    /// <summary>Swap the last occurrence of <paramref name="slot"/> for the value of slot <see cref="With"/>.</summary>
    public SwapSlotAttribute(string slot) => Slot = slot;

    /// <summary>The slot replaced.</summary>
    public string Slot { get; }

    /// <summary>The slot whose value is written instead.</summary>
    public string? With { get; set; }
}

/// <summary>Corrupts by replacing the tokens at <see cref="Positions"/> with random tokens.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class RandomTokensAttribute : Attribute
{
    /// <summary>Positions to randomise.</summary>
    public RandomTokensAttribute(params int[] positions) => Positions = positions;

    /// <summary>Positions.</summary>
    public int[] Positions { get; }
}

/// <summary>
/// The answer and wrong tokens as sets computed from each pair's slot values, by a function on the class:
/// <c>static (string[] Answers, string[] Wrongs) Name(IReadOnlyDictionary&lt;string, string&gt; slots)</c> — Greater-Than's
/// years above YY against the years up to it. Each value becomes a token as slot values do (after
/// <see cref="TemplateAttribute.AnswerPrefix"/>); probabilities sum over a set, logits average. Replaces the template's
/// Answer and Wrong slots.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AnswerSetsAttribute : Attribute
{
    /// <summary>The method's name (use nameof).</summary>
    public AnswerSetsAttribute(string method) => Method = method;

    /// <summary>Method name.</summary>
    public string Method { get; }
}

/// <summary>Corrupts with a user function <c>static string Name(string clean, System.Random random)</c> on the class.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class CorruptWithAttribute : Attribute
{
    /// <summary>The method's name (use nameof).</summary>
    public CorruptWithAttribute(string method) => Method = method;

    /// <summary>Method name.</summary>
    public string Method { get; }
}
