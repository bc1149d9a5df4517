using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Models.Jets;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Attribution;

/// <summary>The scalar the attribution explains, per batch row.</summary>
public interface IMetric
{
    /// <summary>Short name used in reports and JSON (e.g. <c>logit_diff</c>).</summary>
    string Kind { get; }

    /// <summary>Metric per row, [B], from logits [B, T, V].</summary>
    Tensor Evaluate(Tensor logits, ModelInput input);

    /// <summary>Runs <paramref name="model"/> (resumed from a cache at <paramref name="start"/>, if given) and returns
    /// the metric per row, [B], computing only the logits it reads.</summary>
    Tensor Measure(HookedTransformer model, ModelInput input, HookPlan? plan = null, BackwardModification? modification = null,
        CachedStart? start = null);
}

/// <summary>What a prompt pair's metric reads from the logits at the last position.</summary>
public enum MetricKind
{
    /// <summary>logit(answer) − logit(wrong) (default; IOI's metric): linear in two logits, so runs unembed only those two.</summary>
    LogitDifference,

    /// <summary>p(answer) − p(wrong), softmax over the whole vocabulary (the greater-than task's probability difference).</summary>
    ProbabilityDifference,

    /// <summary>log p(answer), the answer's log-probability (minus its loss); the wrong token is not read.</summary>
    LogProbability,

    /// <summary>
    /// KL(p_clean ‖ p), the divergence of the run's next-token distribution from the clean prompt's (ACDC's metric):
    /// every token counts, none is read alone. It is 0 at the clean run and minimal there, so its gradient vanishes and
    /// AtP reads ≈ 0 for every component; the second-order term carries the estimate.
    /// </summary>
    KlDivergence,
}

/// <summary>
/// A metric of a pair's answer token (and its competing wrong token), or of the whole next-token distribution against
/// the pair's clean one (<see cref="Reference"/>), at each row's last real position: <see cref="MetricKind"/> says which.
/// </summary>
public sealed class AnswerMetric(MetricKind metric, int answer, int wrong) : IMetric
{
    /// <summary>The logit difference of <paramref name="answer"/> over <paramref name="wrong"/>.</summary>
    public AnswerMetric(int answer, int wrong) : this(MetricKind.LogitDifference, answer, wrong) { }

    /// <summary>The metric of sets of tokens: <paramref name="answers"/> (Greater-Than: every year above YY) against
    /// <paramref name="wrongs"/> (the rest). Probabilities sum over a set, logits average.</summary>
    public AnswerMetric(MetricKind metric, IReadOnlyList<int> answers, IReadOnlyList<int> wrongs)
        : this(metric, answers.Count > 0 ? answers[0] : throw new ArgumentException("The answer set is empty.", nameof(answers)), wrongs.Count > 0 ? wrongs[0] : answers[0])
    {
        Answers = answers;
        Wrongs = wrongs.Count > 0 ? wrongs : [answers[0]];
    }

    /// <summary>The metric of <paramref name="pair"/>'s answer (and wrong token), or of its token sets. <see cref="MetricKind.KlDivergence"/>
    /// also needs the clean run's distribution: use <see cref="ForPairs"/> (or <see cref="KlFrom"/>) for it.</summary>
    public static AnswerMetric Of(MetricKind metric, PromptPair pair) => new(metric, pair.AnswerTokens, pair.WrongTokens);

    /// <summary>KL(p_clean ‖ p) from the clean run's log-probabilities at its last position, [V].</summary>
    public static AnswerMetric KlFrom(Tensor cleanLogProbabilities)
    {
        if (cleanLogProbabilities.dim() != 1)
            throw new ArgumentException($"The clean distribution is one row of log-probabilities, [V]; got [{string.Join(", ", cleanLogProbabilities.shape)}].", nameof(cleanLogProbabilities));
        return new(MetricKind.KlDivergence, 0, 0) { Reference = Precision.AtLeastFloat32(cleanLogProbabilities.detach()) };
    }

    /// <summary>
    /// Each pair's metric. For <see cref="MetricKind.KlDivergence"/> this runs the clean prompts (a forward per group
    /// of equally long ones, no graph) for the distributions each pair's metric compares with, booked in
    /// <paramref name="cost"/> as "kl.reference" when given.
    /// </summary>
    public static AnswerMetric[] ForPairs(HookedTransformer model, MetricKind metric, IReadOnlyList<PromptPair> pairs, CostLedger? cost = null)
    {
        if (metric != MetricKind.KlDivergence) return [.. pairs.Select(x => Of(metric, x))];
        var metrics = new AnswerMetric[pairs.Count];
        // No graph, but not inference mode: the differentiated passes save these references for their backward.
        using var noGrad = no_grad();
        foreach (var group in Enumerable.Range(0, pairs.Count).GroupBy(i => pairs[i].Clean.Count))
            foreach (var chunk in group.Chunk(16))
            {
                var prompts = chunk.Select(i => pairs[i].Clean).ToArray();
                var logProbabilities = cost is null ? CleanLogProbabilities(model, prompts)
                    : cost.Measure("kl.reference", forwards: 1, backwards: 0, rows: prompts.Length, () => CleanLogProbabilities(model, prompts));
                for (int j = 0; j < chunk.Length; j++) metrics[chunk[j]] = KlFrom(logProbabilities[j]);
            }
        return metrics;
    }

    // log p at each prompt's last position, [B, V], kept in the caller's dispose scope (the forward's own tensors are freed).
    private static Tensor CleanLogProbabilities(HookedTransformer model, IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        using var scope = NewDisposeScope();
        var input = ModelInput.Batched(prompts, device: model.Device);
        var logits = model.ForwardSelected(input, input.LastPositions(), null);
        return scope.MoveToOuter(Precision.AtLeastFloat32(logits).log_softmax(1).clone());
    }

    /// <summary>The clean run's log-probabilities, [V], that <see cref="MetricKind.KlDivergence"/> compares with; null for other metrics.</summary>
    public Tensor? Reference { get; private init; }

    /// <summary>The most likely next token's probability under <see cref="Reference"/> (the KL's saturation check); null
    /// for other metrics.</summary>
    public double? ReferenceTopProbability => Reference is { } reference ? Math.Exp(reference.max().to_type(ScalarType.Float64).item<double>()) : null;

    /// <summary>Which metric.</summary>
    public MetricKind Metric => metric;

    /// <inheritdoc />
    public string Kind => Name(metric);

    /// <summary>Answer token id (the first of <see cref="Answers"/>; not read by <see cref="MetricKind.KlDivergence"/>).</summary>
    public int Answer => answer;

    /// <summary>Every answer token read: <see cref="Answer"/> alone unless built from a set.</summary>
    public IReadOnlyList<int> Answers { get; } = [answer];

    /// <summary>Every wrong token read (by the differences only): <see cref="Wrong"/> alone unless built from a set.</summary>
    public IReadOnlyList<int> Wrongs { get; } = [wrong];

    /// <summary>Wrong token id (the first of <see cref="Wrongs"/>; read by the logit and probability differences only).</summary>
    public int Wrong => wrong;

    /// <summary>The short name of a metric in reports, JSON and the command line: <c>logit_diff</c>, <c>prob_diff</c>, <c>logprob</c>, <c>kl</c>.</summary>
    public static string Name(MetricKind metric) => metric switch
    {
        MetricKind.LogitDifference => "logit_diff",
        MetricKind.ProbabilityDifference => "prob_diff",
        MetricKind.LogProbability => "logprob",
        MetricKind.KlDivergence => "kl",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "unknown metric"),
    };

    /// <summary>The metric a short name (<see cref="Name"/>, with <c>-</c> or <c>_</c>) stands for; throws
    /// <see cref="AttributionInputException"/> listing the names for any other.</summary>
    public static MetricKind Parse(string name)
    {
        string key = name.Trim().ToLowerInvariant().Replace('-', '_');
        foreach (var metric in Enum.GetValues<MetricKind>())
            if (Name(metric) == key) return metric;
        throw new AttributionInputException($"Unknown metric '{name}'; use logit_diff (the default), prob_diff, logprob or kl.");
    }

    /// <summary>True when the metric reads the wrong token (the logit and probability differences).</summary>
    public static bool ReadsWrongToken(MetricKind metric) => metric is MetricKind.LogitDifference or MetricKind.ProbabilityDifference;

    /// <summary>True when the metric reads the answer token (every metric but <see cref="MetricKind.KlDivergence"/>).</summary>
    public static bool ReadsAnswerToken(MetricKind metric) => metric != MetricKind.KlDivergence;

    /// <inheritdoc />
    public Tensor Measure(HookedTransformer model, ModelInput input, HookPlan? plan = null, BackwardModification? modification = null,
        CachedStart? start = null) => MeasureEach(model, input, [.. Enumerable.Repeat(this, (int)input.Batch)], plan, modification, start);

    /// <summary>
    /// Each row's own metric, for a batch that stacks several pairs' prompts (one pass reads the weights once for all
    /// of them): row b measures <paramref name="rows"/>[b]. All rows measure the same kind of metric.
    /// </summary>
    internal static Tensor MeasureEach(HookedTransformer model, ModelInput input, IReadOnlyList<AnswerMetric> rows, HookPlan? plan = null,
        BackwardModification? modification = null, CachedStart? start = null)
    {
        if (rows.Count != input.Batch) throw new ArgumentException($"{rows.Count} metrics for a batch of {input.Batch} rows.", nameof(rows));
        var readout = Readout(rows, model.Device);
        return readout.Value(model.ForwardSelected(input, input.LastPositions(), readout.Tokens, plan, modification, start));
    }

    /// <summary>
    /// The logits a batch of per-row metrics reads (null: the whole vocabulary) and each row's metric from them, as
    /// tensors ([B, tokens] → [B]) and as jets (rows of value and derivatives alike). The logit difference reads two
    /// columns when the rows share their tokens, else each row picks its own two; the probability metrics need the
    /// softmax's normaliser, so every logit.
    /// </summary>
    internal static MetricReadout Readout(IReadOnlyList<AnswerMetric> rows, Device device)
    {
        var metric = rows[0].Metric;
        if (rows.Any(x => x.Metric != metric)) throw new ArgumentException("Rows of one pass measure one kind of metric.", nameof(rows));
        if (metric == MetricKind.LogitDifference)
        {
            if (rows.All(x => x.Answers.Count == 1 && x.Wrongs.Count == 1 && x.Answer == rows[0].Answer && x.Wrong == rows[0].Wrong))
            {
                static Tensor Difference(Tensor x) => Precision.AtLeastFloat32(x[.., 0] - x[.., 1]);
                return new([rows[0].Answer, rows[0].Wrong], Difference, j => j.Map(Difference));
            }
            // Mean logit of each row's answers minus its wrong tokens', from only the columns some row reads.
            long[] tokens = [.. rows.SelectMany(x => x.Answers.Concat(x.Wrongs)).Select(t => (long)t).Distinct()];
            var (read, mean) = TokenColumns(rows, readsWrong: true, average: true, tokens, device);
            Tensor PerRow(Tensor x)
            {
                var logits = Precision.AtLeastFloat32(x);
                return (logits.gather(1, read) * mean.to_type(logits.dtype)).sum(1);
            }
            return new(tokens, PerRow, j => j.Map(PerRow));
        }

        // log p = logit − log Σ exp(logits), in at least float32; for jets through log-sum-exp's own jet.
        static Tensor LogSoftmax(Tensor logits) => Precision.AtLeastFloat32(logits).log_softmax(1);
        static Jet LogSoftmaxJet(Jet logits)
        {
            var x = logits.Map(Precision.AtLeastFloat32);
            return x - x.LogSumExpLast();
        }
        if (metric == MetricKind.KlDivergence)
        {
            // Σ p_clean (log p_clean − log p): the clean terms are constants, so derivatives are −Σ p_clean · (log p)'.
            var reference = References(rows);
            var p = reference.exp();
            return new(null,
                x => (p * (reference - LogSoftmax(x))).sum(1),
                j => LogSoftmaxJet(j).Map(v => (p * (reference - v)).sum(1), d => -(p * d).sum(1)));
        }

        // Each row's tokens as gathered columns of log p: its answers (+1), then its wrong tokens (−1) where read.
        var (columns, sign) = TokenColumns(rows, ReadsWrongToken(metric), average: false, tokens: null, device);
        Tensor Pick(Tensor logP) => logP.gather(1, columns);
        Tensor Signed(Tensor p) => (p * sign.to_type(p.dtype)).sum(1);
        if (metric == MetricKind.LogProbability)
        {
            // log Σ_answers p: log-sum-exp over the answers' columns, the padding left out.
            var padding = sign.eq(0);
            return new(null,
                x => Pick(LogSoftmax(x)).masked_fill(padding, double.NegativeInfinity).logsumexp(1),
                j => LogSoftmaxJet(j).Map(Pick).MaskedFill(padding, double.NegativeInfinity).LogSumExpLast().Map(v => v.squeeze(1)));
        }
        return new(null, x => Signed(Pick(LogSoftmax(x)).exp()), j => LogSoftmaxJet(j).Map(Pick).Elementwise(JetFunctions.Exp).Map(Signed));
    }

    // Each row's tokens as [B, k] gather columns (indices into tokens when given, else token ids) and their weights: its
    // answers +1, then, when read, its wrong tokens −1 (with average, each set's weights sum to ±1 instead); padded to
    // the longest row with its first answer at weight 0.
    private static (Tensor Columns, Tensor Weight) TokenColumns(IReadOnlyList<AnswerMetric> rows, bool readsWrong, bool average, long[]? tokens, Device device)
    {
        int width = rows.Max(x => x.Answers.Count + (readsWrong ? x.Wrongs.Count : 0));
        var (columns, weight) = (new long[rows.Count, width], new double[rows.Count, width]);
        long Column(int token) => tokens is null ? token : Array.IndexOf(tokens, (long)token);
        for (int b = 0; b < rows.Count; b++)
        {
            var (answers, wrongs) = (rows[b].Answers, readsWrong ? rows[b].Wrongs : []);
            double Each(IReadOnlyList<int> set) => average ? 1.0 / set.Count : 1;
            var read = answers.Select(t => (Token: t, Weight: Each(answers))).Concat(wrongs.Select(t => (Token: t, Weight: -Each(wrongs)))).ToArray();
            for (int k = 0; k < width; k++)
                (columns[b, k], weight[b, k]) = k < read.Length ? (Column(read[k].Token), read[k].Weight) : (Column(rows[b].Answer), 0);
        }
        return (tensor(columns, device: device), tensor(weight, device: device));
    }

    // The rows' clean distributions, [B, V] (or [1, V] when every row compares with the same one).
    private static Tensor References(IReadOnlyList<AnswerMetric> rows)
    {
        if (rows.Any(x => x.Reference is null))
            throw new InvalidOperationException("The KL metric compares with the clean run's distribution: build it with AnswerMetric.ForPairs or AnswerMetric.KlFrom.");
        return rows.All(x => ReferenceEquals(x.Reference, rows[0].Reference)) ? rows[0].Reference!.unsqueeze(0) : stack([.. rows.Select(x => x.Reference!)]);
    }

    /// <inheritdoc />
    public Tensor Evaluate(Tensor logits, ModelInput input)
    {
        var rows = arange(logits.shape[0], device: logits.device);
        var last = logits[rows, input.LastPositions().to(logits.device)]; // [B, V]
        return Readout([.. Enumerable.Repeat(this, (int)logits.shape[0])], logits.device).Value(last);
    }
}

/// <summary>
/// What a batch's metrics read: <paramref name="Tokens"/> (null for all) of the last position's logits, and each
/// row's metric from them, for tensors and for jets whose value has a row per derivative row.
/// </summary>
internal sealed record MetricReadout(long[]? Tokens, Func<Tensor, Tensor> Value, Func<Jet, Jet> Jet);
