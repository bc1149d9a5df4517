using CircuitDsl.Examples.Induction;
using CircuitDsl.Runtime.Evaluation;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

// Our toy model travels with the example (see the project file); --model points elsewhere.
string folder = args.Length > 1 && args[0] == "--model" ? args[1] : Path.Combine(AppContext.BaseDirectory, "models", "induction");
var model = ModelLoader.Load(folder);
var result = TokenSwap.Run(model, TokenizerLoader.Load(folder, model.Config));
Console.WriteLine($"{InductionCircuit.CircuitName}: {result.Attribution.Pairs} pairs, M(x) = {result.Attribution.CleanMetric:F2}, M(x′) = {result.Attribution.CorruptedMetric:F2}");
foreach (var (name, group) in new[] { ("layer 0", result.Layer0), ("induction heads", result.InductionHeads) })
    foreach (var e in group)
        Console.WriteLine($"  {name,-16} {e.Id,-5} patching {e.Patching,8:F3}  AtP {e.Atp,8:F3}  estimate {e.Estimate,8:F3} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
// The declared edge, by path patching: how much of the clean-to-corrupted gap it carries alone.
var pairs = ExperimentRunner.Pairs(TokenizerLoader.Load(folder, model.Config), TokenSwap.Plan);
foreach (var edge in InductionCircuit.Edges)
    Console.WriteLine($"  edge {new EdgePatching(model, pairs).Of(edge, InductionCircuit.Groups)}");
return 0;
