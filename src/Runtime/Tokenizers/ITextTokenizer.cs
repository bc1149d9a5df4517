namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>Text ↔ token ids, as the model was trained.</summary>
public interface ITextTokenizer
{
    /// <summary>Vocabulary size.</summary>
    int VocabSize { get; }

    /// <summary>What kind of tokenizer this is and where it came from, for reports (e.g. <c>byte-level BPE from tokenizer.json</c>).</summary>
    string Description { get; }

    /// <summary>Beginning-of-sequence id, if the tokenizer prepends one.</summary>
    int? BosId { get; }

    /// <summary>True for SentencePiece-style tokenizers that prepend a space piece to every text they encode.</summary>
    bool AddsDummyPrefix { get; }

    /// <summary>Encodes <paramref name="text"/>, with BOS first when <paramref name="addBos"/> and the tokenizer has one.</summary>
    IReadOnlyList<int> Encode(string text, bool addBos = true);

    /// <summary>Decodes ids to text.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The text of one token as it would appear after previous text (e.g. " Mary").</summary>
    string TokenText(int id);
}
