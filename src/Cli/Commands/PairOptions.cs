using System.CommandLine;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Cli.Commands;

/// <summary>The prompt-pair options of commands that attribute: one pair as text, or a JSON-lines file.</summary>
internal sealed class PairOptions
{
    public Option<string?> Clean { get; } = new("--clean") { Description = "Clean prompt text." };
    public Option<string?> Corrupt { get; } = new("--corrupt") { Description = "Corrupted prompt text (same number of tokens)." };
    public Option<string[]> Answer { get; } = new("--answer")
    {
        Description = "Answer token: text (' Mary') or id ('#5335'), one token each; several make a set (--answer '#1' '#2') whose probabilities sum (not needed for --metric kl).",
        AllowMultipleArgumentsPerToken = true,
    };
    public Option<string[]> Wrong { get; } = new("--wrong")
    {
        Description = "Competing token: text or '#id'; several make a set (not needed for --metric logprob or kl).",
        AllowMultipleArgumentsPerToken = true,
    };
    public Option<FileInfo?> Pairs { get; } = new("--pairs") { Description = "JSON lines of {clean, corrupted, answer, wrong} (text or ids; answer and wrong may be arrays, token sets the metric reads as one)." };
    public Option<string> Metric { get; } = new("--metric")
    {
        Description = "What to explain at the last position: logit_diff (answer − wrong logit), prob_diff (p(answer) − p(wrong)), logprob (log p(answer)) or kl (KL of the next-token distribution from the clean prompt's).",
        DefaultValueFactory = _ => "logit_diff",
    };

    /// <summary>The options, to add to a command.</summary>
    public IEnumerable<Option> All => [Clean, Corrupt, Answer, Wrong, Pairs, Metric];

    /// <summary>The metric asked for.</summary>
    public MetricKind ReadMetric(ParseResult parse) => AnswerMetric.Parse(parse.GetValue(Metric)!);

    /// <summary>The pairs the command line gives, tokenised with the model's tokenizer (ids need none).</summary>
    public IReadOnlyList<PromptPair> Read(ParseResult parse, string modelPath, ModelConfig config)
    {
        ITextTokenizer? tokenizer = null;
        try { tokenizer = TokenizerLoader.Load(modelPath, config); } catch (ModelLoadException) { /* ids only */ }
        var metric = ReadMetric(parse);
        if (parse.GetValue(Pairs) is { } file) return PromptPair.ReadJsonl(file.FullName, tokenizer, metric);
        string? c = parse.GetValue(Clean), x = parse.GetValue(Corrupt);
        string[] a = parse.GetValue(Answer) ?? [], w = parse.GetValue(Wrong) ?? [];
        bool needsAnswer = AnswerMetric.ReadsAnswerToken(metric), needsWrong = AnswerMetric.ReadsWrongToken(metric);
        if (c is null || x is null || (a.Length == 0 && needsAnswer) || (w.Length == 0 && needsWrong))
            throw new ArgumentException($"Give --clean, --corrupt{(needsAnswer ? ", --answer" : "")}{(needsWrong ? " and --wrong" : "")}, or --pairs FILE.jsonl.");
        if (tokenizer is null) throw new ArgumentException($"No tokenizer for {modelPath}; use --pairs with token ids.");
        // A token the metric does not read is kept when given (reports show it), else 0.
        int[] Tokens(string[] texts) => [.. texts.Select(t => PromptPair.SingleToken(tokenizer, t))];
        return [PromptPair.WithSets(tokenizer.Encode(c), tokenizer.Encode(x), a.Length == 0 ? [0] : Tokens(a), Tokens(w))];
    }
}
