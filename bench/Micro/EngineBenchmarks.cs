using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Training;
using static TorchSharp.torch;

BenchmarkSwitcher.FromAssembly(typeof(EngineBenchmarks).Assembly).Run(args);

/// <summary>Micro-benchmarks of the engine's building blocks on the IOI toy model (`dotnet run -c Release --project bench/Micro`).</summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private HookedTransformer _model = null!;
    private PromptPair _pair = null!;
    private IReadOnlyList<Component> _heads = null!;
    private ModelInput _input = null!;

    [GlobalSetup]
    public void Setup()
    {
        _model = ModelLoader.Load(Path.Combine(AppContext.BaseDirectory, "models", "ioi"));
        _pair = new IoiTask().Pairs(1, seed: 3)[0];
        _heads = Components.Heads(_model.Config);
        _input = ModelInput.Single(_pair.Clean);
    }

    [Benchmark(Baseline = true)]
    public float Forward()
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        return _model.Forward(_input)[0, -1, 0].item<float>();
    }

    [Benchmark]
    public double AtpAllHeads() =>
        new AttributionEngine(_model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Atp }).Run([_pair], _heads).Components[0].Atp;

    [Benchmark]
    public double PatchingAllHeads() =>
        new AttributionEngine(_model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Patching }).Run([_pair], _heads).Components[0].Patching!.Value;

    [Benchmark]
    public double HvpAllHeads() =>
        new AttributionEngine(_model, new AttributionOptions { ScreenFlagFix = false, Methods = Methods.Hvp }).Run([_pair], _heads).Components[0].Hvp!.Value;

    [Benchmark]
    public double ScreenFlagFix() =>
        new AttributionEngine(_model).Run([_pair], _heads).Components[0].Estimate;
}
