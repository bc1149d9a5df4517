using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Testing;

/// <summary>
/// Loads a model and its tokenizer once per test class: derive with the model's path and use it as an xunit
/// <c>IClassFixture&lt;T&gt;</c>. Loading is lazy, so a missing model only fails (or skips) the tests that use it.
/// </summary>
public abstract class ModelFixture
{
    private readonly Lazy<(HookedTransformer Model, ITextTokenizer Tokenizer)> _loaded;

    /// <summary>Creates a fixture for the model at <paramref name="path"/> (null when unavailable).</summary>
    protected ModelFixture(string? path)
    {
        Path = path;
        _loaded = new(() =>
        {
            if (path is null) throw new InvalidOperationException($"{GetType().Name}: the model is not available here.");
            var model = ModelLoader.Load(path);
            return (model, TokenizerLoader.Load(path, model.Config));
        });
    }

    /// <summary>The model path, or null when unavailable (tests should skip).</summary>
    public string? Path { get; }

    /// <summary>True when the model exists.</summary>
    public bool Available => Path is not null && (File.Exists(Path) || Directory.Exists(Path));

    /// <summary>The model.</summary>
    public HookedTransformer Model => _loaded.Value.Model;

    /// <summary>Its tokenizer.</summary>
    public ITextTokenizer Tokenizer => _loaded.Value.Tokenizer;
}
