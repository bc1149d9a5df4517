using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Training;

/// <summary>A batch of training sequences and the positions whose next token is scored.</summary>
/// <param name="Ids">Token ids [B, T].</param>
/// <param name="Targets">Next-token targets [B, T], −100 where the position is not scored.</param>
public sealed record ToyBatch(Tensor Ids, Tensor Targets);

/// <summary>
/// A toy task with a known circuit: its vocabulary, the model shape that learns it, a data generator, and prompt
/// pairs for attribution. Everything is seeded, so training is reproducible.
/// </summary>
public abstract class ToyTask
{
    /// <summary>Task name (<c>induction</c>, <c>ioi</c>, <c>greater-than</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The word-level vocabulary; id 0 is BOS.</summary>
    public abstract WordTokenizer Tokenizer { get; }

    /// <summary>The model shape trained on this task.</summary>
    public abstract ModelConfig Config { get; }

    /// <summary>Default number of optimiser steps.</summary>
    public virtual int DefaultSteps => 3000;

    /// <summary>Learning rate.</summary>
    public virtual double LearningRate => 3e-3;

    /// <summary>A random batch.</summary>
    public abstract ToyBatch Sample(int batch, Random random);

    /// <summary>Which predictions [B, T] count as correct (default: the exact target token).</summary>
    public virtual Tensor Correct(ToyBatch batch, Tensor predicted) => predicted == batch.Targets;

    /// <summary>Clean/corrupted pairs whose metric probes the known circuit.</summary>
    public abstract IReadOnlyList<PromptPair> Pairs(int count, int seed);

    /// <summary>What the known circuit is, for the models' note.</summary>
    public abstract string Description { get; }

    /// <summary>The task by name.</summary>
    public static ToyTask Create(string name) => name switch
    {
        "induction" => new InductionTask(),
        "ioi" => new IoiTask(),
        "greater-than" => new GreaterThanTask(),
        _ => throw new ArgumentException($"Unknown toy task '{name}'; choose induction, ioi or greater-than."),
    };

    /// <summary>Task names.</summary>
    public static IReadOnlyList<string> TaskNames { get; } = ["induction", "ioi", "greater-than"];

    /// <summary>Helper: targets that score only <paramref name="scored"/> positions (the same in every row).</summary>
    protected static ToyBatch Batch(long[,] ids, Func<int, bool> scored) => Batch(ids, (_, j) => scored(j));

    /// <summary>Helper: targets that score only <paramref name="scored"/>(row, position).</summary>
    protected static ToyBatch Batch(long[,] ids, Func<int, int, bool> scored)
    {
        int b = ids.GetLength(0), t = ids.GetLength(1);
        var targets = new long[b, t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
                targets[i, j] = j + 1 < t && scored(i, j) ? ids[i, j + 1] : -100;
        return new ToyBatch(tensor(ids), tensor(targets));
    }
}
