using CircuitDsl.Examples.Gpt2;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

// Compiles always (GPT-2's config.json is committed); runs when --model points at a GPT-2 small folder.
Console.WriteLine($"{IoiCircuit.CircuitName} on {Gpt2Small.Shape.Family} ({Gpt2Small.Shape.Layers} layers × {Gpt2Small.Shape.Heads} heads):");
foreach (var group in IoiCircuit.Groups.Concat(GreaterThanCircuit.Groups)) Console.WriteLine($"  {group}");
Console.WriteLine($"  name mover 9.9 output site: {Gpt2Small.Sites.L9.H9.Z}");

int at = Array.IndexOf(args, "--model");
if (at < 0 || at + 1 >= args.Length)
{
    Console.WriteLine("Pass --model DIR (a Hugging Face GPT-2 small folder: config.json + model.safetensors) to run the experiment.");
    return 0;
}
var model = ModelLoader.Load(args[at + 1]);
var tokenizer = TokenizerLoader.Load(args[at + 1], model.Config);
var ioi = IoiNameSwap.Run(model, tokenizer);
foreach (var e in ioi.NameMovers.Concat(ioi.SInhibition))
    Console.WriteLine($"  IOI {e.Id,-6} patching {e.Patching,8:F3}  estimate {e.Estimate,8:F3} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
foreach (var edge in ioi.Edges) Console.WriteLine($"  IOI edge {edge}");
var years = GreaterThanYears.Run(model, tokenizer);
foreach (var e in years.YearHeads.Concat(years.LateMlps))
    Console.WriteLine($"  Greater-Than {e.Id,-6} patching {e.Patching,8:F3}  estimate {e.Estimate,8:F3} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
foreach (var edge in years.Edges) Console.WriteLine($"  Greater-Than edge {edge}");
var probability = GreaterThanProbability.Run(model, tokenizer);
foreach (var e in probability.YearHeads.Concat(probability.LateMlps))
    Console.WriteLine($"  Greater-Than p(later) − p(earlier) {e.Id,-6} patching {e.Patching,8:F3}  estimate {e.Estimate,8:F3} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
return 0;
