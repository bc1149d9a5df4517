using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Sites;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>What can stand at either end of an edge, and in which order (<see cref="EdgePatching"/>, <see cref="EdgeAttribution"/>).</summary>
internal static class EdgeEnds
{
    /// <summary>
    /// Checks both ends for <paramref name="method"/>: the embedding, heads and MLPs send; heads, their queries, keys
    /// and values, MLPs' inputs and the logits (the unembedding's input) receive; every component within the model.
    /// </summary>
    public static void Check(string method, IReadOnlyList<Component> senders, IReadOnlyList<Component> receivers, ModelConfig config)
    {
        if (senders.Count == 0 || receivers.Count == 0)
            throw new AttributionInputException($"{method} needs at least one sender and one receiver.");
        foreach (var x in senders)
            if (x.Kind is not (ComponentKind.Embedding or ComponentKind.Head or ComponentKind.Mlp))
                throw new AttributionInputException($"{method} sends from the embedding, heads and MLPs, not {x.Id}.");
        foreach (var x in receivers)
            if (x.Kind is not (ComponentKind.Head or ComponentKind.Mlp or ComponentKind.Query or ComponentKind.Key or ComponentKind.Value or ComponentKind.Logits))
                throw new AttributionInputException($"{method} receives at heads, their queries, keys and values, MLPs' inputs and the logits, not {x.Id}.");
        foreach (var x in senders.Concat(receivers)) x.Validate(config);
    }

    /// <summary>
    /// Where <paramref name="receiver"/> reads the residual stream: a head's inputs at its layer's input, an MLP after
    /// its layer's attention (or beside it with parallel residuals), the logits after the last layer.
    /// </summary>
    public static Site Reads(Component receiver, ModelConfig config) => receiver.Kind switch
    {
        ComponentKind.Logits => new(SiteKind.ResidPost, config.Layers - 1),
        ComponentKind.Mlp when !config.ParallelResidual => new(SiteKind.ResidMid, receiver.Layer),
        _ => new(SiteKind.ResidPre, receiver.Layer),
    };

    /// <summary>Whether <paramref name="sender"/> writes the residual stream before <paramref name="receiver"/> reads it.</summary>
    public static bool Precedes(Component sender, Component receiver, ModelConfig config) => Writes(sender, config) < ReadOrder(receiver, config);

    // Order in the forward pass: the embedding writes first; a layer's heads read its residual input and write; a
    // sequential MLP reads after them and writes, a parallel one reads and writes beside them; the logits read last.
    private static int ReadOrder(Component x, ModelConfig c) => x.Kind == ComponentKind.Logits ? 3 * c.Layers
        : 3 * x.Layer + (x.Kind == ComponentKind.Mlp && !c.ParallelResidual ? 2 : 0);

    private static int Writes(Component x, ModelConfig c) => x.Kind == ComponentKind.Embedding ? -1
        : 3 * x.Layer + (x.Kind == ComponentKind.Mlp && !c.ParallelResidual ? 2 : 1);
}
