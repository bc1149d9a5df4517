using System;
using System.Collections.Generic;

namespace CircuitDsl;

/// <summary>A model's shape as the generator read it from config.json (or explicit values).</summary>
public sealed class ModelShape
{
    /// <summary>Creates a shape.</summary>
    public ModelShape(string family, int layers, int heads, int kvHeads, int neurons, bool attentionOnly)
    {
        Family = family;
        Layers = layers;
        Heads = heads;
        KvHeads = kvHeads;
        Neurons = neurons;
        AttentionOnly = attentionOnly;
    }

    /// <summary>Family (<c>model_type</c>).</summary>
    public string Family { get; }
    /// <summary>Layers.</summary>
    public int Layers { get; }
    /// <summary>Query heads per layer.</summary>
    public int Heads { get; }
    /// <summary>Key/value heads per layer.</summary>
    public int KvHeads { get; }
    /// <summary>MLP neurons per layer.</summary>
    public int Neurons { get; }
    /// <summary>No MLPs.</summary>
    public bool AttentionOnly { get; }
}

/// <summary>A site of one layer, optionally one head: an entry of a generated site catalog.</summary>
public readonly struct SiteRef : IEquatable<SiteRef>
{
    /// <summary>Creates a site reference.</summary>
    public SiteRef(SiteKind kind, int layer, int head = -1)
    {
        Kind = kind;
        Layer = layer;
        Head = head;
    }

    /// <summary>Site kind.</summary>
    public SiteKind Kind { get; }
    /// <summary>Layer.</summary>
    public int Layer { get; }
    /// <summary>Head, or −1 for the whole site.</summary>
    public int Head { get; }

    /// <inheritdoc />
    public bool Equals(SiteRef other) => Kind == other.Kind && Layer == other.Layer && Head == other.Head;
    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SiteRef other && Equals(other);
    /// <inheritdoc />
    public override int GetHashCode() => ((int)Kind * 397 ^ Layer) * 397 ^ Head;
    /// <inheritdoc />
    public override string ToString() => Head < 0 ? $"blocks.{Layer}.{Kind}" : $"blocks.{Layer}.{Kind}[{Head}]";
}

/// <summary>One component as declared in a circuit: kind, layer, index (head, neuron or position) and position.</summary>
public readonly struct ComponentRef : IEquatable<ComponentRef>
{
    /// <summary>Creates a component reference.</summary>
    public ComponentRef(ComponentKind kind, int layer, int index, int position = -1)
    {
        Kind = kind;
        Layer = layer;
        Index = index;
        Position = position;
    }

    /// <summary>Kind.</summary>
    public ComponentKind Kind { get; }
    /// <summary>Layer.</summary>
    public int Layer { get; }
    /// <summary>Head, neuron or residual position.</summary>
    public int Index { get; }
    /// <summary>Token position, or −1 for all.</summary>
    public int Position { get; }

    /// <summary>The stable id (<c>L9H9</c>, <c>L0MLP</c>, <c>L3N17</c>, <c>L2R4</c>, <c>L7H3Q</c>, <c>L9H9@14</c>, <c>embed</c>, <c>logits</c>).</summary>
    public string Id
    {
        get
        {
            string id = Kind switch
            {
                ComponentKind.Head => $"L{Layer}H{Index}",
                ComponentKind.Mlp => $"L{Layer}MLP",
                ComponentKind.Neuron => $"L{Layer}N{Index}",
                ComponentKind.Residual => $"L{Layer}R{Index}",
                ComponentKind.Query => $"L{Layer}H{Index}Q",
                ComponentKind.Key => $"L{Layer}H{Index}K",
                ComponentKind.Embedding => "embed",
                ComponentKind.Logits => "logits",
                _ => $"L{Layer}H{Index}V",
            };
            return Position >= 0 && Kind != ComponentKind.Residual ? id + "@" + Position : id;
        }
    }

    /// <inheritdoc />
    public bool Equals(ComponentRef other) => Kind == other.Kind && Layer == other.Layer && Index == other.Index && Position == other.Position;
    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ComponentRef other && Equals(other);
    /// <inheritdoc />
    public override int GetHashCode() => (((int)Kind * 397 ^ Layer) * 397 ^ Index) * 397 ^ Position;
    /// <inheritdoc />
    public override string ToString() => Id;
}

/// <summary>A named group of a circuit's components (e.g. "NameMovers").</summary>
public sealed class ComponentGroup
{
    /// <summary>Creates a group.</summary>
    public ComponentGroup(string name, IReadOnlyList<ComponentRef> components)
    {
        Name = name;
        Components = components;
    }

    /// <summary>Group name.</summary>
    public string Name { get; }
    /// <summary>Components.</summary>
    public IReadOnlyList<ComponentRef> Components { get; }
    /// <inheritdoc />
    public override string ToString() => $"{Name} [{string.Join(", ", Components)}]";
}

/// <summary>A hypothesised edge between groups.</summary>
public sealed class CircuitEdge
{
    /// <summary>Creates an edge.</summary>
    public CircuitEdge(string sender, string receiver, PatchAt via)
    {
        Sender = sender;
        Receiver = receiver;
        Via = via;
    }

    /// <summary>Sending group.</summary>
    public string Sender { get; }
    /// <summary>Receiving group.</summary>
    public string Receiver { get; }
    /// <summary>Receiver input.</summary>
    public PatchAt Via { get; }
}

/// <summary>How corrupted prompts are made.</summary>
public enum PerturbationKind
{
    /// <summary>Replace the last occurrence of a slot's value with another slot's value.</summary>
    SwapSlot,
    /// <summary>Random tokens at positions.</summary>
    RandomTokens,
    /// <summary>A user function.</summary>
    Function,
}

/// <summary>Everything needed to run an experiment, as plain data emitted by the generator.</summary>
public sealed class ExperimentPlan
{
    /// <summary>Creates a plan.</summary>
    public ExperimentPlan(string name, string circuit, ModelShape model, IReadOnlyList<ComponentGroup> groups, string template,
        IReadOnlyList<KeyValuePair<string, string[]>> slots, string answerSlot, string wrongSlot, PerturbationKind perturbation,
        string swapSlot, string swapWith, IReadOnlyList<int> randomPositions, Func<string, Random, string>? corrupt,
        Estimator method, bool compareWithPatching, double tau, int k, int igSteps, int pairs, int seed, string answerPrefix = " ",
        IReadOnlyList<CircuitEdge>? edges = null, Metric metric = Metric.LogitDifference,
        Func<IReadOnlyDictionary<string, string>, (string[] Answers, string[] Wrongs)>? answerSets = null, FixBy fix = FixBy.Patching)
    {
        Metric = metric;
        Fix = fix;
        AnswerSets = answerSets;
        AnswerPrefix = answerPrefix;
        Edges = edges ?? new CircuitEdge[0];
        Name = name; Circuit = circuit; Model = model; Groups = groups; Template = template; Slots = slots;
        AnswerSlot = answerSlot; WrongSlot = wrongSlot; Perturbation = perturbation; SwapSlot = swapSlot; SwapWith = swapWith;
        RandomPositions = randomPositions; Corrupt = corrupt; Method = method; CompareWithPatching = compareWithPatching;
        Tau = tau; K = k; IgSteps = igSteps; Pairs = pairs; Seed = seed;
    }

    /// <summary>Experiment name.</summary>
    public string Name { get; }
    /// <summary>Circuit name.</summary>
    public string Circuit { get; }
    /// <summary>The model shape the plan was validated against.</summary>
    public ModelShape Model { get; }
    /// <summary>The circuit's groups.</summary>
    public IReadOnlyList<ComponentGroup> Groups { get; }
    /// <summary>The circuit's declared edges between groups.</summary>
    public IReadOnlyList<CircuitEdge> Edges { get; }
    /// <summary>Clean template.</summary>
    public string Template { get; }
    /// <summary>Slot values.</summary>
    public IReadOnlyList<KeyValuePair<string, string[]>> Slots { get; }
    /// <summary>Text put before answer and wrong values to form their tokens.</summary>
    public string AnswerPrefix { get; }
    /// <summary>Answer slot.</summary>
    public string AnswerSlot { get; }
    /// <summary>Wrong slot ("" when the metric reads no wrong token, or the answers are sets).</summary>
    public string WrongSlot { get; }
    /// <summary>The answer and wrong token sets of a pair from its slot values (<see cref="AnswerSetsAttribute"/>); null
    /// when the answer and wrong slots name single tokens.</summary>
    public Func<IReadOnlyDictionary<string, string>, (string[] Answers, string[] Wrongs)>? AnswerSets { get; }
    /// <summary>What the attribution explains.</summary>
    public Metric Metric { get; }
    /// <summary>Perturbation kind.</summary>
    public PerturbationKind Perturbation { get; }
    /// <summary>Slot replaced by a swap.</summary>
    public string SwapSlot { get; }
    /// <summary>Slot whose value is written by a swap.</summary>
    public string SwapWith { get; }
    /// <summary>Positions randomised.</summary>
    public IReadOnlyList<int> RandomPositions { get; }
    /// <summary>User corruption function.</summary>
    public Func<string, Random, string>? Corrupt { get; }
    /// <summary>Method.</summary>
    public Estimator Method { get; }
    /// <summary>Also patch exactly.</summary>
    public bool CompareWithPatching { get; }
    /// <summary>How Screen–Flag–Fix fixes a flagged estimate.</summary>
    public FixBy Fix { get; }
    /// <summary>τ.</summary>
    public double Tau { get; }
    /// <summary>K.</summary>
    public int K { get; }
    /// <summary>IG steps.</summary>
    public int IgSteps { get; }
    /// <summary>Pairs drawn.</summary>
    public int Pairs { get; }
    /// <summary>Seed.</summary>
    public int Seed { get; }
}
