using CircuitDsl.Examples.Stories260K;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

// Looks for ../shared/models/stories260K beside the repository unless --model is given.
string? model = args.Length > 1 && args[0] == "--model" ? args[1] : null;
for (var dir = new DirectoryInfo(AppContext.BaseDirectory); model is null && dir is not null; dir = dir.Parent)
    if (File.Exists(Path.Combine(dir.FullName, "CircuitDsl.sln")))
        model = Path.Combine(dir.FullName, "..", "shared", "models", "stories260K", "stories260K.bin");
if (model is null || !File.Exists(model))
{
    Console.WriteLine("stories260K not found: pass --model PATH/stories260K.bin (it lives in ../shared, never in this repository).");
    return 0;
}
var m = ModelLoader.Load(model);
var tokenizer = TokenizerLoader.Load(model, m.Config);
var byLogit = GiverSwap.Run(m, tokenizer);
Print("logit difference", byLogit.Attribution, [.. byLogit.LateHeads, .. byLogit.Mlps, .. byLogit.LastMlp], byLogit.Edges);
var byLogProbability = GiverSwapLogProbability.Run(m, tokenizer);
Print("log-probability of the answer", byLogProbability.Attribution, [.. byLogProbability.LateHeads, .. byLogProbability.Mlps, .. byLogProbability.LastMlp], byLogProbability.Edges);
var byKl = GiverSwapKl.Run(m, tokenizer);
Print("KL from the clean distribution", byKl.Attribution, [.. byKl.LateHeads, .. byKl.Mlps, .. byKl.LastMlp], byKl.Edges);
return 0;

static void Print(string metric, CircuitDsl.Runtime.Attribution.AttributionResult result, IReadOnlyList<CircuitDsl.Runtime.Attribution.ComponentEstimate> estimates,
    IEnumerable<CircuitDsl.Runtime.Evaluation.EdgeEffect> edges)
{
    Console.WriteLine($"{NameCircuit.CircuitName}, {metric}: {result.Pairs} pairs, M(x) = {result.CleanMetric:F3}, M(x′) = {result.CorruptedMetric:F3}");
    foreach (var warning in result.Warnings) Console.WriteLine($"  warning: {warning}");
    foreach (var e in estimates)
        Console.WriteLine($"  {e.Id,-6} patching {e.Patching,8:F4}  AtP {e.Atp,8:F4}  estimate {e.Estimate,8:F4} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
    foreach (var edge in edges) Console.WriteLine($"  edge {edge}");
}
