using System.CommandLine;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit generate</c>: greedy or sampled continuation of a prompt.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue.", DefaultValueFactory = _ => "" };
        var steps = new Option<int>("--steps", "-n") { Description = "Positions in total, prompt included (llama2.c convention).", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature", "-t") { Description = "0 = greedy.", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("generate", "Continue a prompt with the model.") { model, device, prompt, steps, temperature, seed };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
            var tokenizer = TokenizerLoader.Load(path, m.Config);
            var ids = tokenizer.Encode(parse.GetValue(prompt)!);
            if (ids.Count == 0) throw new ArgumentException("The prompt encodes to no tokens and the tokenizer has no BOS; give a prompt.");
            var output = Generation.Generate(m, ids, parse.GetValue(steps), parse.GetValue(temperature), tokenizer.BosId, parse.GetValue(seed));
            parse.InvocationConfiguration.Output.WriteLine(tokenizer.Decode(output));
            return 0;
        });
        return command;
    }
}
