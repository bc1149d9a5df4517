using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Training;

/// <summary>
/// Repeated random token sequences: BOS x₁…x_n x₁…x_n. Predicting the second copy needs an induction circuit: a
/// previous-token head in layer 0 and an induction head in layer 1 (Olsson et al. 2022). Two attention-only layers.
/// </summary>
public sealed class InductionTask : ToyTask
{
    private const int Symbols = 30, Half = 12;

    /// <inheritdoc />
    public override string Name => "induction";

    /// <inheritdoc />
    public override WordTokenizer Tokenizer { get; } = new(["<bos>", .. Enumerable.Range(0, Symbols).Select(i => $"t{i}")]);

    /// <inheritdoc />
    public override ModelConfig Config { get; } = new()
    {
        Family = ModelFamily.Llama, VocabSize = Symbols + 1, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 4, HeadDim = 16,
        Intermediate = 0, AttentionOnly = true, MaxPositions = 2 * Half + 1, RotaryDims = 16, RopeTheta = 10000,
        Norm = NormKind.RmsNorm, NormEps = 1e-5, BosTokenId = 0,
    };

    /// <inheritdoc />
    public override int DefaultSteps => 1500;

    /// <inheritdoc />
    public override string Description =>
        $"BOS followed by {Half} random tokens (of {Symbols}) repeated once; loss on the second copy. Expected circuit: a previous-token head in layer 0 and an induction head in layer 1.";

    /// <inheritdoc />
    public override ToyBatch Sample(int batch, Random random)
    {
        var ids = new long[batch, 2 * Half + 1];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < Half; i++)
                ids[b, 1 + i] = ids[b, 1 + Half + i] = 1 + random.Next(Symbols);
        // Score the second copy from its second token on: the first repeat cannot be predicted.
        return Batch(ids, j => j >= Half + 1);
    }

    /// <inheritdoc />
    public override IReadOnlyList<PromptPair> Pairs(int count, int seed)
    {
        // Clean: BOS x₁…x_n x₁…x_k → x_{k+1}. Corrupted: x_{k+1} replaced by y in the first copy → y.
        var random = new Random(seed);
        var pairs = new List<PromptPair>();
        const int k = Half / 2;
        while (pairs.Count < count)
        {
            var first = Enumerable.Range(0, Half).Select(_ => 1 + random.Next(Symbols)).ToArray();
            if (first.Distinct().Count() < Half) continue; // unambiguous continuation
            int answer = first[k], wrong;
            do wrong = 1 + random.Next(Symbols); while (first.Contains(wrong));
            int[] clean = [0, .. first, .. first.Take(k)];
            var corrupted = clean.ToArray();
            corrupted[1 + k] = wrong;
            pairs.Add(new PromptPair(clean, corrupted, answer, wrong));
        }
        return pairs;
    }
}
