using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CircuitDsl.Runtime.Attribution;

namespace CircuitDsl.Runtime.Sharding;

/// <summary>One shard's output: per-pair values for its pairs or components, with what must match to merge.</summary>
public sealed record PartialResult
{
    /// <summary>File format tag.</summary>
    public const string FormatTag = "circuitdsl-partial/1";

    /// <summary>Format tag of the file.</summary>
    public string Format { get; init; } = FormatTag;
    /// <summary>CircuitDsl version that wrote it.</summary>
    public required string Version { get; init; }
    /// <summary>Model path as given.</summary>
    public required string Model { get; init; }
    /// <summary>Fingerprint of the model's files.</summary>
    public required string ModelFingerprint { get; init; }
    /// <summary>Fingerprint of the options that change numbers.</summary>
    public required string OptionsFingerprint { get; init; }
    /// <summary>The shard.</summary>
    public required int ShardIndex { get; init; }
    /// <summary>Number of shards.</summary>
    public required int ShardCount { get; init; }
    /// <summary>Axis.</summary>
    public required ShardAxis Axis { get; init; }
    /// <summary>Total pairs in the full run.</summary>
    public required int TotalPairs { get; init; }
    /// <summary>Every component id of the full run, in order.</summary>
    public required string[] AllComponents { get; init; }
    /// <summary>Original indices (pairs or components, by axis) held here.</summary>
    public required int[] Indices { get; init; }
    /// <summary>Metric kind.</summary>
    public required string MetricKind { get; init; }
    /// <summary>Per-pair data of this shard.</summary>
    public required Dictionary<string, double[][]> Values { get; init; }
    /// <summary>Scales of this shard's pairs.</summary>
    public required double[] Scales { get; init; }
    /// <summary>Clean metrics of this shard's pairs.</summary>
    public required double[] CleanMetrics { get; init; }
    /// <summary>Corrupted metrics of this shard's pairs.</summary>
    public required double[] CorruptedMetrics { get; init; }
    /// <summary>The clean prompts' top next-token probabilities, for the KL divergence (else null).</summary>
    public double[]? CleanTopProbabilities { get; init; }
    /// <summary>Compute spent.</summary>
    public required Dictionary<string, MethodCost> Cost { get; init; }
    /// <summary>The options (JSON round-trip).</summary>
    public required AttributionOptions Options { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes the partial.</summary>
    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>Reads a partial, refusing other formats.</summary>
    public static PartialResult Load(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"{path}: partial result not found.");
        PartialResult? partial;
        try { partial = JsonSerializer.Deserialize<PartialResult>(File.ReadAllText(path), Json); }
        catch (JsonException ex) { throw new ArgumentException($"{path}: not a CircuitDsl partial result ({ex.Message}).", ex); }
        if (partial is null || partial.Format != FormatTag) throw new ArgumentException($"{path}: not a {FormatTag} file.");
        return partial;
    }

    /// <summary>A fingerprint of a model's files (config and weights: size and a hash of the first MiB).</summary>
    public static string Fingerprint(string modelPath)
    {
        var files = Directory.Exists(modelPath) ? Directory.GetFiles(modelPath).Order(StringComparer.Ordinal).ToArray() : [modelPath];
        using var sha = SHA256.Create();
        foreach (var file in files.Where(f => f.EndsWith(".json") || f.EndsWith(".safetensors") || f.EndsWith(".bin")))
        {
            using var stream = File.OpenRead(file);
            var head = new byte[Math.Min(stream.Length, 1 << 20)];
            stream.ReadExactly(head);
            var name = Encoding.UTF8.GetBytes(Path.GetFileName(file) + ":" + stream.Length);
            sha.TransformBlock(name, 0, name.Length, null, 0);
            sha.TransformBlock(head, 0, head.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(sha.Hash!)[..16];
    }

    /// <summary>A fingerprint of the options that change results.</summary>
    public static string Fingerprint(AttributionOptions o) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{o.ScreenFlagFix}|{o.Methods}|{o.Tau:R}|{o.K}|{o.IgSteps}|{o.Screen}|{o.HutchinsonProbes}|{o.Epsilon:R}|{o.Seed}|{string.Join(",", o.ExtraScreens)}|{o.Metric}")))[..16];
}
