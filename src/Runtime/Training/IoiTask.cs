using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Datasets;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Training;

/// <summary>
/// Indirect object identification on templates: "When A and B went to the store , B gave a drink to" → A. The
/// model must find the name that is not repeated — in GPT-2 small a circuit of duplicate-token, S-inhibition and
/// name-mover heads (Wang et al. 2022). Three layers with MLPs, a small name vocabulary.
/// </summary>
public sealed class IoiTask : ToyTask
{
    /// <summary>Names (single tokens).</summary>
    public static readonly string[] Names = ["Mary", "John", "Anna", "Bob", "Lisa", "Tom", "Kate", "Sam"];
    private static readonly string[] Places = ["store", "park", "school", "beach"];
    private static readonly string[] Things = ["drink", "ball", "book", "gift"];
    /// <summary>The template, with slots {A}, {B}, {place}, {thing}; the giver (second {B}) is the slot swapped.</summary>
    public const string Template = "When {A} and {B} went to the {place} , {B} gave a {thing} to";

    /// <inheritdoc />
    public override string Name => "ioi";

    /// <inheritdoc />
    public override WordTokenizer Tokenizer { get; } = new(
        ["<bos>", .. Names, .. Places, .. Things, "When", "and", "went", "to", "the", ",", "gave", "a"]);

    /// <inheritdoc />
    public override ModelConfig Config => new()
    {
        Family = ModelFamily.Llama, VocabSize = Tokenizer.VocabSize, Hidden = 64, Layers = 3, Heads = 4, KvHeads = 4, HeadDim = 16,
        Intermediate = 128, MaxPositions = 16, RotaryDims = 16, RopeTheta = 10000, Norm = NormKind.RmsNorm, NormEps = 1e-5,
        Act = Activation.Silu, GatedMlp = true, BosTokenId = 0,
    };

    /// <inheritdoc />
    public override string Description =>
        $"\"{Template}\" with {Names.Length} names, {Places.Length} places, {Things.Length} objects; the giver is either name; loss on the answer only. Expected: heads in the last layer that attend from the final position to the non-repeated name (name movers), fed by heads that detect the repeated name.";

    /// <inheritdoc />
    public override ToyBatch Sample(int batch, Random random)
    {
        int t = Tokenizer.Encode(Fill("Mary", "John", "John", Places[0], Things[0])).Count + 1;
        var ids = new long[batch, t];
        for (int b = 0; b < batch; b++)
        {
            int a = random.Next(Names.Length), c;
            do c = random.Next(Names.Length); while (c == a);
            bool giverIsB = random.Next(2) == 0;
            string giver = giverIsB ? Names[c] : Names[a], answer = giverIsB ? Names[a] : Names[c];
            var tokens = Tokenizer.Encode(Fill(Names[a], Names[c], giver, Places[random.Next(Places.Length)], Things[random.Next(Things.Length)])).Append(Tokenizer.Encode(answer, addBos: false)[0]).ToArray();
            for (int j = 0; j < t; j++) ids[b, j] = tokens[j];
        }
        return Batch(ids, j => j == t - 2);
    }

    /// <inheritdoc />
    public override IReadOnlyList<PromptPair> Pairs(int count, int seed)
    {
        var all = NameSwap.Build(Tokenizer, Names, [Template], new Dictionary<string, string[]> { ["place"] = Places, ["thing"] = Things });
        var random = new Random(seed);
        return [.. all.OrderBy(_ => random.Next()).Take(count)];
    }

    private static string Fill(string a, string b, string giver, string place, string thing)
    {
        var text = Template.Replace("{A}", a).Replace("{place}", place).Replace("{thing}", thing);
        int at = text.LastIndexOf("{B}", StringComparison.Ordinal);
        return (text[..at] + giver + text[(at + 3)..]).Replace("{B}", b);
    }
}
