using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>Decoding loops for checks and demos (no KV cache: models here are small and sequences short).</summary>
public static class Generation
{
    /// <summary>
    /// Extends <paramref name="prompt"/> until it holds <paramref name="steps"/> + 1 tokens (llama2.c's convention:
    /// steps counts positions including the prompt), stopping early at <paramref name="stopId"/>. Greedy when
    /// <paramref name="temperature"/> is 0, else sampled with <paramref name="seed"/>. As in llama2.c, no sequence
    /// grows beyond the model's context (<see cref="Loading.ModelConfig.MaxPositions"/>).
    /// </summary>
    public static List<int> Generate(HookedTransformer model, IReadOnlyList<int> prompt, int steps,
        double temperature = 0, int? stopId = null, long seed = 0)
    {
        if (prompt.Count == 0) throw new ArgumentException("The prompt needs at least one token (e.g. BOS).", nameof(prompt));
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"Steps count positions, prompt included, and must be ≥ 1; got {steps}.");
        if (temperature < 0) throw new ArgumentOutOfRangeException(nameof(temperature), "Temperature must be ≥ 0.");
        var ids = prompt.ToList();
        var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        while (ids.Count < Math.Min(steps + 1, model.Config.MaxPositions))
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(ModelInput.Single(ids, model.Device))[0, -1];
            int next = temperature == 0
                ? (int)logits.argmax().item<long>()
                : (int)multinomial((logits / temperature).softmax(-1), 1, generator: generator).item<long>();
            if (next == stopId) break;
            ids.Add(next);
        }
        return ids;
    }
}
