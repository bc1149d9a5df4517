using System.Globalization;
using System.Text;
using CircuitDsl.Runtime.Loading;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>
/// llama2.c's <c>tokenizer.bin</c> format (e.g. <c>tok512.bin</c>): SentencePiece-BPE pieces with scores, encoded by
/// run.c's rules — dummy-prefix space, code-point lookup with byte fallback (byte b → id b+3), then repeated
/// merging of the adjacent pair with the highest score (leftmost on ties), BOS included in the scan.
/// </summary>
public sealed class Llama2cTokenizer : ITextTokenizer
{
    private readonly string[] _pieces;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _ids;

    private Llama2cTokenizer(string[] pieces, float[] scores)
    {
        _pieces = pieces;
        _scores = scores;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
            _ids.TryAdd(pieces[i], i);
    }

    /// <inheritdoc />
    public int VocabSize => _pieces.Length;

    /// <inheritdoc />
    public string Description => "llama2.c SentencePiece-BPE (tokenizer .bin)";

    /// <inheritdoc />
    public int? BosId => 1;

    /// <inheritdoc />
    public bool AddsDummyPrefix => true;

    /// <summary>Reads a tokenizer file with <paramref name="vocabSize"/> entries (the model's vocabulary size).</summary>
    public static Llama2cTokenizer Load(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, "tokenizer file not found.");
        using var reader = new BinaryReader(File.OpenRead(path));
        try
        {
            reader.ReadInt32(); // max token length
            var pieces = new string[vocabSize];
            var scores = new float[vocabSize];
            for (int i = 0; i < vocabSize; i++)
            {
                scores[i] = reader.ReadSingle();
                int length = reader.ReadInt32();
                if (length < 0 || length > 1024) throw new ModelLoadException(path, $"entry {i} has implausible length {length}.");
                // Pieces are byte strings; Latin-1 keeps each byte as one char so nothing is lost.
                pieces[i] = Encoding.Latin1.GetString(reader.ReadBytes(length));
            }
            return new Llama2cTokenizer(pieces, scores);
        }
        catch (EndOfStreamException ex)
        {
            throw new ModelLoadException(path, $"truncated before {vocabSize} entries were read.", inner: ex);
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos = true)
    {
        var tokens = new List<int>();
        if (addBos) tokens.Add(1);
        if (text.Length > 0) tokens.Add(_ids[" "]);
        foreach (var rune in text.EnumerateRunes())
        {
            var bytes = Encoding.UTF8.GetBytes(rune.ToString());
            if (_ids.TryGetValue(Encoding.Latin1.GetString(bytes), out int id))
                tokens.Add(id);
            else
                tokens.AddRange(bytes.Select(b => b + 3));
        }
        while (true)
        {
            float best = float.NegativeInfinity;
            int bestId = -1, bestAt = -1;
            for (int i = 0; i + 1 < tokens.Count; i++)
            {
                if (_ids.TryGetValue(_pieces[tokens[i]] + _pieces[tokens[i + 1]], out int id) && _scores[id] > best)
                {
                    best = _scores[id];
                    bestId = id;
                    bestAt = i;
                }
            }
            if (bestAt < 0) break;
            tokens[bestAt] = bestId;
            tokens.RemoveAt(bestAt + 1);
        }
        return tokens;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        int previous = -1;
        foreach (int id in ids)
        {
            if (id != 1 || previous >= 0) bytes.AddRange(PieceBytes(id, previous));
            previous = id;
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <inheritdoc />
    public string TokenText(int id) => Encoding.UTF8.GetString(PieceBytes(id, -1));

    private byte[] PieceBytes(int id, int previous)
    {
        if (id < 0 || id >= _pieces.Length) throw new ArgumentOutOfRangeException(nameof(id), $"Token id {id} is outside 0..{_pieces.Length - 1}.");
        string piece = _pieces[id];
        if (previous == 1 && piece.StartsWith(' ')) piece = piece[1..]; // run.c drops the space after BOS
        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece.EndsWith('>')
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte raw))
            return [raw];
        return Encoding.Latin1.GetBytes(piece);
    }
}
