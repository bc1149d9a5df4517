namespace CircuitDsl;

/// <summary>What sort of model part a component is.</summary>
public enum ComponentKind
{
    /// <summary>An attention head's output (<c>attn.z</c> slice), id <c>L{l}H{h}</c>.</summary>
    Head,
    /// <summary>An MLP layer's output (<c>mlp_out</c>), id <c>L{l}MLP</c>.</summary>
    Mlp,
    /// <summary>One MLP neuron (<c>mlp.post</c> column), id <c>L{l}N{i}</c>.</summary>
    Neuron,
    /// <summary>The residual stream entering a layer at one position (<c>resid_pre</c>), id <c>L{l}R{p}</c>.</summary>
    Residual,
    /// <summary>A head's query input (<c>attn.q</c> slice), id <c>L{l}H{h}Q</c>.</summary>
    Query,
    /// <summary>A key/value head's key input (<c>attn.k</c> slice), id <c>L{l}H{g}K</c>.</summary>
    Key,
    /// <summary>A key/value head's value input (<c>attn.v</c> slice), id <c>L{l}H{g}V</c>.</summary>
    Value,
    /// <summary>The embedding as the first layer reads it (<c>embed</c>), id <c>embed</c>: an edge's sender.</summary>
    Embedding,
    /// <summary>The unembedding's input, the residual stream after the last layer as the final norm reads it, id
    /// <c>logits</c>: an edge's receiver.</summary>
    Logits,
}
