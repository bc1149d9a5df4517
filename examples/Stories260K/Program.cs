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
var result = GiverSwap.Run(m, TokenizerLoader.Load(model, m.Config));
Console.WriteLine($"{NameCircuit.CircuitName}: {result.Attribution.Pairs} pairs, M(x) = {result.Attribution.CleanMetric:F3}, M(x′) = {result.Attribution.CorruptedMetric:F3}");
foreach (var e in result.LateHeads.Concat(result.Mlps).Concat(result.LastMlp))
    Console.WriteLine($"  {e.Id,-6} patching {e.Patching,8:F4}  AtP {e.Atp,8:F4}  estimate {e.Estimate,8:F4} ± {e.Bound:G2}  R̃ {e.RTilde:F2}{(e.Flagged ? "  FLAG" : "")}");
foreach (var edge in result.Edges) Console.WriteLine($"  edge {edge}");
return 0;
