using CircuitDsl;

namespace CircuitDsl.Examples.Gpt2;

/// <summary>GPT-2 small's shape, read from its config.json at compile time.</summary>
[ModelBinding("gpt2-small/config.json")]
public static partial class Gpt2Small;

/// <summary>The indirect-object-identification circuit of GPT-2 small (Wang et al. 2022).</summary>
[Circuit(typeof(Gpt2Small), Name = "IOI")]
[Edge(nameof(DuplicateToken), nameof(SInhibition))]
[Edge(nameof(SInhibition), nameof(NameMovers))]
[Edge(nameof(NameMovers), EdgeEnd.Logits)]   // the name movers copy the name straight into the logits
public static partial class IoiCircuit
{
    [Heads("9.9", "9.6", "10.0")] public static partial ComponentGroup NameMovers { get; }
    [Heads("7.3", "7.9", "8.6", "8.10")] public static partial ComponentGroup SInhibition { get; }
    [Heads("5.5", "5.8", "5.9", "6.9")] public static partial ComponentGroup Induction { get; }
    [Heads("0.1", "0.10", "3.0")] public static partial ComponentGroup DuplicateToken { get; }
    [Heads("2.2", "4.11")] public static partial ComponentGroup PreviousToken { get; }
}

/// <summary>Name swap: the subject's second mention becomes the indirect object, so the answer flips.</summary>
[Experiment(typeof(IoiCircuit), Pairs = 32)]
[Template("When {IO} and {S} went to the store, {S} gave a drink to", Answer = "IO", Wrong = "S")]
[Slot("IO", "Mary", "John", "Alice", "Bob", "Sarah", "Tom")]
[Slot("S", "Mary", "John", "Alice", "Bob", "Sarah", "Tom")]
[SwapSlot("S", With = "IO")]
public static partial class IoiNameSwap;
