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

    /// <summary>Runs <paramref name="model"/> and returns the metric per row, [B], computing only the logits it reads.</summary>
    Tensor Measure(HookedTransformer model, ModelInput input, HookPlan? plan = null, BackwardModification? modification = null,
        int firstLayer = 0, Tensor? residPre = null);
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
        int firstLayer = 0, Tensor? residPre = null)
    {
        var selected = model.ForwardSelected(input, input.LastPositions(), [answer, wrong], plan, modification, firstLayer, residPre);
        return Precision.AtLeastFloat32(selected[.., 0] - selected[.., 1]);
    }

    /// <inheritdoc />
    public Tensor Evaluate(Tensor logits, ModelInput input)
    {
        var rows = arange(logits.shape[0], device: logits.device);
        var last = logits[rows, input.LastPositions().to(logits.device)]; // [B, V]
        return Precision.AtLeastFloat32(last[.., answer] - last[.., wrong]);
    }
}
