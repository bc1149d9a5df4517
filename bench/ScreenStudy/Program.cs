// The screen-threshold study behind AttributionOptions.ScreenTauFraction (docs/screen-threshold-study.md): for each
// model and component set, the exact HVPs each cheap screen and threshold asks for, and the flags it finds against
// exact HVPs for every component; with "probes", the Hutchinson probe count over several seeds. Deterministic
// (seeded pairs and probes); prints markdown.
//
//     dotnet run --project bench/ScreenStudy -c Release [-- probes]
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Benchmarks;
using CircuitDsl.Runtime.Datasets;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tokenizers;
using CircuitDsl.Runtime.Training;
using CircuitDsl.Tests.Support;

var cases = new List<(string Name, HookedTransformer Model, IReadOnlyList<PromptPair> Pairs, IReadOnlyList<Component> Components)>();
foreach (var toy in new[] { "ioi", "induction" })
{
    var model = ModelLoader.Load(RepositoryRoot.Combine("models", toy));
    cases.Add(($"{toy} toy, heads + MLPs", model, ToyTask.Create(toy).Pairs(8, seed: 3), [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)]));
}
string stories = RepositoryRoot.Combine("..", "shared", "models", "stories260K", "stories260K.bin");
if (File.Exists(stories))
{
    var model = ModelLoader.Load(stories);
    var pairs = NameSwap.Build(TokenizerLoader.Load(stories, model.Config), ["Lily", "Tim"],
        fillers: new Dictionary<string, string[]> { ["place"] = ["park", "garden", "house"], ["thing"] = ["ball"] });
    cases.Add(("stories260K, heads + MLPs", model, pairs, [.. Components.Heads(model.Config), .. Components.Mlps(model.Config)]));
    var sameLength = pairs.Where(x => x.Clean.Count == pairs[0].Clean.Count).Take(8).ToList();
    cases.Add(("stories260K, heads × positions", model, sameLength, Components.HeadsPerPosition(model.Config, pairs[0].Clean.Count)));
}
else Console.Error.WriteLine($"stories260K skipped: {stories} not found (../shared beside the repository).");
var gpt = SyntheticGpt2.Shape(); // the bench's GPT-2-small-shaped model and pair
cases.Add(("GPT-2-small-shaped (synthetic), heads", gpt.Model, [gpt.Pair], Components.Heads(gpt.Model.Config)));
cases.Add(("GPT-2-small-shaped (synthetic), heads × positions", gpt.Model, [gpt.Pair], Components.HeadsPerPosition(gpt.Model.Config, gpt.Pair.Clean.Count)));

// Two studies, one table each: the screens' fractions of τ (default), or with "probes" the Hutchinson probe count
// over several seeds at its default fraction. Each row: the exact HVPs Screen–Flag–Fix ran, its flags, and the
// reference flags it missed; the reference computes exact curvature for every component (its flags among candidates
// chosen by |AtP|).
bool probeStudy = args.Contains("probes");
var (varied, setting) = probeStudy ? ("probes", "seed") : ("screen", "fraction of τ");
Console.WriteLine($"| model, components | pairs | {varied} | {setting} | exact HVP rows | flags | exact flags missed |");
Console.WriteLine("| --- | ---: | --- | ---: | ---: | ---: | --- |");
foreach (var (name, model, pairs, components) in cases)
{
    var exact = new AttributionEngine(model, new AttributionOptions { Screen = CurvatureScreen.Exact }).Run(pairs, components);
    var exactFlags = exact.Components.Where(c => c.Flagged).Select(c => c.Id).ToHashSet();
    Console.WriteLine($"| {name} | {pairs.Count} | exact (every component) | – | {exact.Cost["hvp"].Rows} | {exactFlags.Count} | |");
    var settings = probeStudy
        ? from probes in new[] { 1, 2, 3, 4, 8 } from seed in new long[] { 1234, 1, 2, 3 }
          select ($"{probes}", $"{seed}", new AttributionOptions { HutchinsonProbes = probes, Seed = seed })
        : from screen in new[] { CurvatureScreen.Hutchinson, CurvatureScreen.GradientDifference } from fraction in new[] { 0.25, 0.5, 0.75, 1.0 }
          select ($"{screen}", $"{fraction:F2}", new AttributionOptions { Screen = screen, ScreenTauFraction = fraction });
    foreach (var (what, value, options) in settings)
    {
        var result = new AttributionEngine(model, options).Run(pairs, components);
        var flags = result.Components.Where(c => c.Flagged).Select(c => c.Id).ToHashSet();
        long rows = result.Cost.TryGetValue("hvp", out var hvp) ? hvp.Rows : 0;
        Console.WriteLine($"| | | {what} | {value} | {rows} | {flags.Count} | {string.Join(", ", exactFlags.Except(flags))} |");
    }
}
