using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Training;

/// <summary>
/// Greater-than on years (after Hanna et al. 2023): "The war lasted from the year 17 YY to the year 17" → any ZZ &gt; YY,
/// with the two-digit years as single tokens. Trained on a uniform ZZ above YY, so the model must learn a comparison
/// (in GPT-2, late MLPs do it). A prediction is correct when it is above YY.
/// </summary>
public sealed class GreaterThanTask : ToyTask
{
    private static readonly string[] Prefix = ["The", "war", "lasted", "from", "the", "year", "17"];
    private static readonly string[] Middle = ["to", "the", "year", "17"];

    /// <inheritdoc />
    public override string Name => "greater-than";

    /// <inheritdoc />
    // As in GPT-2, the century "17" is the same token as the year 17.
    public override WordTokenizer Tokenizer { get; } = new(["<bos>", "The", "war", "lasted", "from", "the", "year", "to", .. Enumerable.Range(0, 100).Select(Year)]);

    /// <inheritdoc />
    public override ModelConfig Config => new()
    {
        Family = ModelFamily.Llama, VocabSize = Tokenizer.VocabSize, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 4, HeadDim = 16,
        Intermediate = 256, MaxPositions = 16, RotaryDims = 16, RopeTheta = 10000, Norm = NormKind.RmsNorm, NormEps = 1e-5,
        Act = Activation.Silu, GatedMlp = true, BosTokenId = 0,
    };

    /// <inheritdoc />
    public override string Description =>
        "\"The war lasted from the year 17 YY to the year 17\" → ZZ drawn uniformly above YY (YY in 02..97); correct when the prediction is above YY. Expected: the final position reads YY through attention and MLPs turn it into a distribution over later years.";

    /// <summary>Two-digit year text.</summary>
    public static string Year(int y) => y.ToString("00", System.Globalization.CultureInfo.InvariantCulture);

    private int YearId(int y) => YearId(Year(y));

    private int YearId(string year) => Tokenizer.Encode(year, addBos: false)[0];

    /// <inheritdoc />
    public override ToyBatch Sample(int batch, Random random)
    {
        int t = 1 + Prefix.Length + 1 + Middle.Length + 1;
        var ids = new long[batch, t];
        for (int b = 0; b < batch; b++)
        {
            int yy = 2 + random.Next(96), zz = yy + 1 + random.Next(99 - yy);
            var tokens = Tokenizer.Encode(Sentence(yy)).Append(YearId(zz)).ToArray();
            for (int j = 0; j < t; j++) ids[b, j] = tokens[j];
        }
        return Batch(ids, j => j == t - 2);
    }

    /// <inheritdoc />
    public override Tensor Correct(ToyBatch batch, Tensor predicted)
    {
        // Correct = a year token above YY (the year at position 8).
        var yy = batch.Ids[.., 8].unsqueeze(1);
        return (predicted > yy).logical_and(predicted >= YearId(0));
    }

    /// <inheritdoc />
    public override IReadOnlyList<PromptPair> Pairs(int count, int seed)
    {
        // Corruption "01": with 1701 as start, every year is later. Metric: a year in the middle of the valid range
        // against one in the middle of the invalid range.
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            int yy = 20 + random.Next(60);
            return new PromptPair(Tokenizer.Encode(Sentence(yy)), Tokenizer.Encode(Sentence(1)), YearId((yy + 100) / 2), YearId(yy / 2));
        })];
    }

    /// <summary>
    /// The same prompts measured as Hanna et al. do: every year above YY is an answer and every year up to YY a wrong
    /// token, so the probability difference is p(year &gt; YY) − p(year ≤ YY) (<see cref="PromptPair.WithSets"/>).
    /// </summary>
    public IReadOnlyList<PromptPair> YearSetPairs(int count, int seed) =>
        [.. Pairs(count, seed).Select(p =>
        {
            string yy = Tokenizer.TokenText(p.Clean[8]).Trim(); // the start year, at position 8
            var (later, upTo) = YearsAround(yy);
            return PromptPair.WithSets(p.Clean, p.Corrupted, [.. later.Select(YearId)], [.. upTo.Select(YearId)]);
        })];

    /// <summary>The two-digit years after <paramref name="yy"/> ("45": "46" … "99") and up to it ("00" … "45"): the
    /// answer and wrong sets of Greater-Than's probability difference (an <c>[AnswerSets]</c> function's result).</summary>
    public static (string[] Answers, string[] Wrongs) YearsAround(string yy)
    {
        if (!int.TryParse(yy, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int year) || year > 99)
            throw new AttributionInputException($"'{yy}' is not a two-digit year.");
        string[] Years(int from, int to) => [.. Enumerable.Range(from, to - from + 1).Select(Year)];
        return (Years(year + 1, 99), Years(0, year));
    }

    private static string Sentence(int yy) => string.Join(" ", Prefix) + " " + Year(yy) + " " + string.Join(" ", Middle);
}
