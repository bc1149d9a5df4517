using Microsoft.ML.Tokenizers;

namespace CircuitDsl.Runtime.Tokenizers;

/// <summary>Adapts a Microsoft.ML.Tokenizers tokenizer (byte-level BPE, SentencePiece, tiktoken) to <see cref="ITextTokenizer"/>.</summary>
/// <param name="inner">The tokenizer.</param>
/// <param name="vocabSize">The model's vocabulary size.</param>
/// <param name="bosId">The BOS id to put first, if the model expects one.</param>
/// <param name="description">What it is and where it came from (<see cref="ITextTokenizer.Description"/>).</param>
public sealed class MlTokenizer(Tokenizer inner, int vocabSize, int? bosId, string description) : ITextTokenizer
{
    /// <inheritdoc />
    public string Description => description;

    /// <inheritdoc />
    public int VocabSize => vocabSize;

    /// <inheritdoc />
    public int? BosId => bosId;

    /// <inheritdoc />
    public bool AddsDummyPrefix => inner is LlamaTokenizer;

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos = true)
    {
        var ids = inner.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true).ToList();
        // SentencePiece adds BOS itself; byte-level BPE and tiktoken never do.
        bool hasBos = bosId is int b && ids.Count > 0 && ids[0] == b;
        if (addBos && bosId is int bos && !hasBos) ids.Insert(0, bos);
        if (!addBos && hasBos) ids.RemoveAt(0);
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) => inner.Decode(ids);

    /// <inheritdoc />
    public string TokenText(int id) => inner.Decode([id]);
}
