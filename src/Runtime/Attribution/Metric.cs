using CircuitDsl.Runtime.Models;
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

/// <summary>Logit of the answer minus logit of the wrong token, at each row's last real position.</summary>
public sealed class LogitDifference(int answer, int wrong) : IMetric
{
    /// <inheritdoc />
    public string Kind => "logit_diff";

    /// <summary>Answer token id.</summary>
    public int Answer => answer;

    /// <summary>Wrong token id.</summary>
    public int Wrong => wrong;

    /// <inheritdoc />
    public Tensor Measure(HookedTransformer model, ModelInput input, HookPlan? plan = null, BackwardModification? modification = null,
        CachedStart? start = null)
    {
        var selected = model.ForwardSelected(input, input.LastPositions(), [answer, wrong], plan, modification, start);
        return Precision.AtLeastFloat32(selected[.., 0] - selected[.., 1]);
    }

    /// <summary>
    /// Each row's own logit difference, for a batch that stacks several pairs' prompts (one pass reads the weights
    /// once for all of them): row b measures <paramref name="rows"/>[b].
    /// </summary>
    internal static Tensor MeasureEach(HookedTransformer model, ModelInput input, IReadOnlyList<LogitDifference> rows, HookPlan? plan = null,
        BackwardModification? modification = null, CachedStart? start = null)
    {
        if (rows.Count != input.Batch) throw new ArgumentException($"{rows.Count} metrics for a batch of {input.Batch} rows.", nameof(rows));
        var (tokens, difference) = Columns(rows, model.Device);
        return difference(model.ForwardSelected(input, input.LastPositions(), tokens, plan, modification, start));
    }

    /// <summary>
    /// The logits a batch of per-row metrics reads, and each row's difference from them ([B, tokens] → [B]): two
    /// columns when the rows share their tokens (then any batch size), else each row picks its own two.
    /// </summary>
    internal static (long[] Tokens, Func<Tensor, Tensor> Difference) Columns(IReadOnlyList<LogitDifference> rows, Device device)
    {
        if (rows.All(x => x.Answer == rows[0].Answer && x.Wrong == rows[0].Wrong))
            return ([rows[0].Answer, rows[0].Wrong], x => Precision.AtLeastFloat32(x[.., 0] - x[.., 1]));
        long[] tokens = [.. rows.SelectMany(x => new long[] { x.Answer, x.Wrong }).Distinct()];
        Tensor Index(Func<LogitDifference, int> token) => tensor(rows.Select(x => (long)Array.IndexOf(tokens, token(x))).ToArray(), device: device).unsqueeze(1);
        var (answer, wrong) = (Index(x => x.Answer), Index(x => x.Wrong));
        return (tokens, x => Precision.AtLeastFloat32((x.gather(1, answer) - x.gather(1, wrong)).squeeze(1)));
    }

    /// <inheritdoc />
    public Tensor Evaluate(Tensor logits, ModelInput input)
    {
        var rows = arange(logits.shape[0], device: logits.device);
        var last = logits[rows, input.LastPositions().to(logits.device)]; // [B, V]
        return Precision.AtLeastFloat32(last[.., answer] - last[.., wrong]);
    }
}
