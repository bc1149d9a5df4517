using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Training;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit train-toy TASK --out DIR</c>: reproduces the committed toy models.</summary>
internal static class TrainToyCommand
{
    public static Command Create()
    {
        var task = new Argument<string>("task") { Description = "induction, ioi or greater-than." };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Folder to write config.json, model.safetensors and words.txt.", Required = true };
        var steps = new Option<int?>("--steps") { Description = "Optimiser steps (default: the task's)." };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("train-toy", "Train a toy model with a known circuit (CPU, fixed seed, deterministic).") { task, output, steps, seed };
        command.SetAction(parse =>
        {
            var t = ToyTask.Create(parse.GetValue(task)!);
            var folder = parse.GetValue(output)!.FullName;
            ToyTrainingResult result = null!;
            ProgressBars.Start(ctx =>
            {
                var bar = ctx.AddTask($"training {t.Name}", maxValue: parse.GetValue(steps) ?? t.DefaultSteps);
                result = ToyTrainer.Train(t, parse.GetValue(steps), parse.GetValue(seed), progress: new SynchronousProgress<(int Step, int Total, double Loss)>(p =>
                {
                    bar.Value = p.Step;
                    bar.Description = $"training {t.Name} (loss {p.Loss:F3})";
                    ctx.Refresh();
                }));
            });
            ModelWriter.SaveLlama(result.Model, folder, new Dictionary<string, JsonNode?>
            {
                ["circuitdsl_task"] = t.Name,
                ["circuitdsl_seed"] = parse.GetValue(seed),
                ["circuitdsl_steps"] = result.Steps,
                ["circuitdsl_accuracy"] = Math.Round(result.Accuracy, 4),
            });
            t.Tokenizer.Save(Path.Combine(folder, "words.txt"));
            parse.InvocationConfiguration.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{t.Name}: accuracy {result.Accuracy:P1}, final loss {result.FinalLoss:F4}, {result.Steps} steps → {folder}"));
            return 0;
        });
        return command;
    }
}
