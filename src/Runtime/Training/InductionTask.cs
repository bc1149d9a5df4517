using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Training;

/// <summary>
/// Repeated random token segments: … x₁…x_n … x₁…x_n …. Predicting the second copy needs an induction circuit: a
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
    public override int DefaultSteps => 5000;

    /// <inheritdoc />
    public override string Description =>
        $"BOS, random tokens (of {Symbols}) with a segment of 5–{Half} tokens repeated at a random place; loss on the repeat. Expected circuit: a previous-token head in layer 0 and an induction head in layer 1.";

    /// <inheritdoc />
    public override ToyBatch Sample(int batch, Random random)
    {
        // Random prefix, a segment of random length, the segment again, random filler: the repeat distance varies,
        // so only content-based induction (not "copy from k positions back") predicts the second copy.
        int t = 2 * Half + 1;
        var ids = new long[batch, t];
        var scored = new bool[batch, t];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 1; j < t; j++) ids[b, j] = 1 + random.Next(Symbols);
            int length = 5 + random.Next(Half - 4), start = 1 + random.Next(t - 2 * length);
            for (int i = 0; i < length; i++)
            {
                ids[b, start + length + i] = ids[b, start + i];
                if (i + 1 < length) scored[b, start + length + i] = true; // predicts the next repeated token
            }
        }
        return Batch(ids, (b, j) => scored[b, j]);
    }

    /// <inheritdoc />
    public override IReadOnlyList<PromptPair> Pairs(int count, int seed)
    {
        // Clean: BOS, a random prefix, a segment x₁…x_n, then x₁…x_k → x_{k+1}. Corrupted: x_{k+1} replaced by y in
        // the first copy, so induction now predicts y.
        var random = new Random(seed);
        var pairs = new List<PromptPair>();
        while (pairs.Count < count)
        {
            int n = 6 + random.Next(Half - 5), k = n / 2, prefix = random.Next(2 * Half - 2 * n + 1);
            var tokens = Enumerable.Range(0, prefix + n).Select(_ => 1 + random.Next(Symbols)).ToArray();
            var segment = tokens[prefix..];
            if (tokens.Distinct().Count() < tokens.Length) continue; // an unambiguous previous occurrence
            int answer = segment[k], wrong;
            do wrong = 1 + random.Next(Symbols); while (tokens.Contains(wrong));
            int[] clean = [0, .. tokens, .. segment.Take(k)];
            var corrupted = clean.ToArray();
            corrupted[1 + prefix + k] = wrong;
            pairs.Add(new PromptPair(clean, corrupted, answer, wrong));
        }
        return pairs;
    }
}
