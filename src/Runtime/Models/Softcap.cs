using CircuitDsl.Runtime.Models.Jets;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>Gemma-2's soft cap, c·tanh(x / c), on attention scores and final logits; the identity when c = 0.</summary>
internal static class Softcap
{
    public static Tensor Apply(Tensor x, double cap) => cap > 0 ? (x / cap).tanh() * cap : x;

    public static Jet Apply(Jet x, double cap) => cap > 0 ? (x * (1 / cap)).Elementwise(JetFunctions.Tanh) * cap : x;
}
