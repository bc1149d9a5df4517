using System.Reflection;
using System.Text.Json;
using Xunit.Sdk;

namespace CircuitDsl.Testing;

/// <summary>
/// xunit theory data from a prompt-pair dataset: one JSON object per line with <c>clean</c>, <c>corrupted</c>,
/// <c>answer</c>, <c>wrong</c> (text). Each line becomes one theory case (clean, corrupted, answer, wrong).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PromptPairDataAttribute(string path) : DataAttribute
{
    /// <summary>The dataset path (relative to the test binaries, or absolute).</summary>
    public string Path { get; } = path;

    /// <inheritdoc />
    public override IEnumerable<object[]> GetData(MethodInfo testMethod)
    {
        string full = System.IO.Path.IsPathRooted(Path) ? Path : System.IO.Path.Combine(AppContext.BaseDirectory, Path);
        if (!File.Exists(full)) throw new FileNotFoundException($"Prompt-pair dataset {full} not found (copy it to the output directory).");
        int line = 0;
        foreach (var text in File.ReadLines(full))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            using var doc = JsonDocument.Parse(text);
            var e = doc.RootElement;
            string Get(string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()!
                : throw new InvalidDataException($"{full}:{line}: '{key}' must be a string.");
            yield return [Get("clean"), Get("corrupted"), Get("answer"), Get("wrong")];
        }
    }
}
