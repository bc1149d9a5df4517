using CircuitDsl.Runtime.Loading;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>
/// A word-level tokenizer for our toy models: <c>words.txt</c> lists one token per line (id = line number); text is
/// split on spaces and each word must be in the list. Token text carries a leading space like GPT-2's (" Mary").
/// </summary>
public sealed class WordTokenizer : ITextTokenizer
{
    private readonly string[] _words;
    private readonly Dictionary<string, int> _ids;

    /// <summary>Creates a tokenizer over <paramref name="words"/>; the first is BOS when <paramref name="bosId"/> is 0.</summary>
    public WordTokenizer(IReadOnlyList<string> words, int? bosId = 0)
    {
        _words = [.. words];
        _ids = _words.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i, StringComparer.Ordinal);
        BosId = bosId;
    }

    /// <inheritdoc />
    public string Description => "word list (words.txt)";

    /// <summary>Reads <c>words.txt</c>.</summary>
    public static WordTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, "word list not found.");
        return new WordTokenizer(File.ReadAllLines(path).Where(l => l.Length > 0).ToArray());
    }

    /// <summary>Writes the word list.</summary>
    public void Save(string path) => File.WriteAllLines(path, _words);

    /// <summary>The words, by id.</summary>
    public IReadOnlyList<string> Words => _words;

    /// <inheritdoc />
    public int VocabSize => _words.Length;

    /// <inheritdoc />
    public int? BosId { get; }

    /// <inheritdoc />
    public bool AddsDummyPrefix => false;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos = true)
    {
        var ids = new List<int>();
        if (addBos && BosId is int bos) ids.Add(bos);
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            ids.Add(_ids.TryGetValue(word, out int id) ? id
                : throw new ArgumentException($"'{word}' is not in this toy model's vocabulary ({string.Join(" ", _words.Skip(1).Take(20))} …)."));
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) =>
        string.Join(" ", ids.Where(i => i != BosId).Select(i => _words[i]));

    /// <inheritdoc />
    public string TokenText(int id) => " " + _words[id];
}
