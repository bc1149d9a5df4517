using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Training;

/// <summary>Training outcome: the model, its task accuracy on fresh data, and the final loss.</summary>
/// <param name="Model">The trained model (weights frozen again).</param>
/// <param name="Accuracy">Share of scored positions predicted exactly, on 1024 fresh sequences.</param>
/// <param name="FinalLoss">Mean loss over the last 50 steps.</param>
/// <param name="Steps">Optimiser steps run.</param>
public sealed record ToyTrainingResult(HookedTransformer Model, double Accuracy, double FinalLoss, int Steps);

/// <summary>Trains a toy model from scratch on CPU with a fixed seed (AdamW, cross-entropy on scored positions).</summary>
public static class ToyTrainer
{
    /// <summary>Trains <paramref name="task"/>'s model for <paramref name="steps"/> steps.</summary>
    public static ToyTrainingResult Train(ToyTask task, int? steps = null, int seed = 0, int batch = 64, IProgress<(int Step, int Total, double Loss)>? progress = null)
    {
        int total = steps ?? task.DefaultSteps;
        // Zero steps would write an untrained model with a NaN loss as if trained.
        if (total < 1) throw new ArgumentOutOfRangeException(nameof(steps), total, $"Training needs at least one step; got {total}.");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"A training batch needs at least one example; got {batch}.");
        using var gc = GcPause.Enter();
        torch.manual_seed(seed);
        var random = new Random(seed);
        var model = Initialise(task.Config, seed);
        foreach (var p in model.parameters()) p.requires_grad_(true);
        model.train();
        var optimizer = optim.AdamW(model.parameters(), lr: task.LearningRate, weight_decay: 0.01);
        var recent = new Queue<double>();
        for (int step = 0; step < total; step++)
        {
            using var scope = NewDisposeScope();
            var data = task.Sample(batch, random);
            var logits = model.Forward(new ModelInput(data.Ids));
            var loss = nn.functional.cross_entropy(logits.flatten(0, 1), data.Targets.flatten(), ignore_index: -100);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            double value = loss.item<float>();
            recent.Enqueue(value);
            if (recent.Count > 50) recent.Dequeue();
            if (step % 50 == 0 || step == total - 1) progress?.Report((step + 1, total, value));
        }
        foreach (var p in model.parameters()) p.requires_grad_(false);
        model.eval();
        return new ToyTrainingResult(model, Accuracy(model, task, seed + 1), recent.Count == 0 ? double.NaN : recent.Average(), total);
    }

    /// <summary>Share of scored positions predicted exactly on fresh sequences.</summary>
    public static double Accuracy(HookedTransformer model, ToyTask task, int seed, int sequences = 1024)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var data = task.Sample(sequences, new Random(seed));
        var predicted = model.Forward(new ModelInput(data.Ids)).argmax(-1);
        var scored = data.Targets != -100;
        return task.Correct(data, predicted).logical_and(scored).sum().item<long>() / (double)scored.sum().item<long>();
    }

    /// <summary>A freshly initialised model: norms 1, embeddings N(0, 0.1²), projections N(0, 1/fan_in).</summary>
    public static HookedTransformer Initialise(ModelConfig config, int seed)
    {
        var generator = new Generator((ulong)seed);
        var parameters = new HookedTransformer(config).named_parameters().ToDictionary(
            p => p.name,
            p => p.name.EndsWith("norm.weight", StringComparison.Ordinal)
                ? ones(p.parameter.shape)
                : randn(p.parameter.shape, generator: generator) * (p.name is "embed" or "unembed" ? 0.1 : 1.0 / Math.Sqrt(p.parameter.shape[^1])));
        return ModelLoader.Build(config, parameters, "initialisation", CPU);
    }
}
