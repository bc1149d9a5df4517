using System.Text.Json;
using CircuitDsl.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Loading;

/// <summary>Loads a <see cref="HookedTransformer"/> from a Hugging Face folder (<c>config.json</c> +
/// <c>model.safetensors</c> or a sharded index) or a llama2.c <c>.bin</c> file.</summary>
public static class ModelLoader
{
    /// <summary>Loads the model at <paramref name="path"/> onto <paramref name="device"/> (CPU by default), in float32
    /// unless <paramref name="dtype"/> says otherwise.</summary>
    public static HookedTransformer Load(string path, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        ModelConfig config;
        Dictionary<string, Tensor> parameters;
        string source;
        if (File.Exists(path) && path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
        {
            (config, parameters) = Llama2cCheckpoint.Read(path);
            source = path;
        }
        else if (Directory.Exists(path))
        {
            if (!File.Exists(Path.Combine(path, "config.json"))) throw new ModelLoadException(path, NoConfigMessage(path));
            config = HfConfigReader.Read(Path.Combine(path, "config.json"));
            (parameters, source) = ReadHfWeights(path, config);
        }
        else
        {
            throw new ModelLoadException(path, "not found: pass a Hugging Face model folder (config.json + model.safetensors) or a llama2.c .bin file.");
        }
        return Build(config, parameters, source, device ?? CPU, dtype);
    }

    // A folder without config.json: say what in it could be loaded instead (a llama2.c file, a model subfolder).
    private static string NoConfigMessage(string folder)
    {
        var message = "no config.json: a Hugging Face model folder needs config.json beside model.safetensors.";
        var checkpoints = Directory.GetFiles(folder, "*.bin").Where(Llama2cCheckpoint.IsCheckpoint).Order().ToList();
        var models = Directory.GetDirectories(folder).Where(d => File.Exists(Path.Combine(d, "config.json"))).Order().ToList();
        if (checkpoints.Count > 0) message += $" For a llama2.c checkpoint pass the file: {string.Join(", ", checkpoints)}.";
        if (models.Count > 0) message += $" Model folders inside: {string.Join(", ", models)}.";
        return message;
    }

    /// <summary>Creates a model from a config and parameter tensors (checked by name and shape).</summary>
    public static HookedTransformer Build(ModelConfig config, IReadOnlyDictionary<string, Tensor> parameters, string source, Device device, ScalarType dtype = ScalarType.Float32)
    {
        var model = new HookedTransformer(config);
        var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var missing = expected.Keys.Where(k => !parameters.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new ModelLoadException(source, $"missing tensors for {config.Family}: {string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? ", …" : "")}.", missing[0]);
        var extra = parameters.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (extra.Count > 0)
            throw new ModelLoadException(source, $"tensors the {config.Family} model does not use: {string.Join(", ", extra)}.", extra[0]);
        using (no_grad())
        {
            foreach (var (name, target) in expected)
            {
                var value = parameters[name];
                if (!value.shape.SequenceEqual(target.shape))
                    throw new ModelLoadException(source, $"shape [{string.Join(", ", value.shape)}] does not match the model's [{string.Join(", ", target.shape)}] (from config.json).", name);
                target.set_(value.to(ScalarType.Float32));
            }
        }
        model.to(device);
        if (dtype != ScalarType.Float32) model.to(dtype);
        model.eval();
        return model;
    }

    private static (Dictionary<string, Tensor>, string) ReadHfWeights(string folder, ModelConfig config)
    {
        string single = Path.Combine(folder, "model.safetensors");
        string index = Path.Combine(folder, "model.safetensors.index.json");
        IEnumerable<SafeTensorsFile> files;
        if (File.Exists(single))
        {
            files = [SafeTensorsFile.Open(single)];
        }
        else if (File.Exists(index))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(index));
                files = doc.RootElement.GetProperty("weight_map").EnumerateObject()
                    .Select(p => p.Value.GetString()!).Distinct().Order()
                    .Select(f => SafeTensorsFile.Open(Path.Combine(folder, f))).ToList();
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new ModelLoadException(index, $"malformed shard index ({ex.Message}).", inner: ex);
            }
        }
        else
        {
            throw new ModelLoadException(folder, "no model.safetensors or model.safetensors.index.json in the folder.");
        }
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var tensors = file.Entries.Keys.Order().Select(n => (n, (Func<Tensor>)(() => file.Read(n))));
            foreach (var (k, v) in HfWeightMap.ToParameters(config, tensors, file.Path))
                all[k] = v;
        }
        return (all, folder);
    }
}
