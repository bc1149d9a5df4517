using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using CircuitDsl.Runtime.Sites;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Evaluation;

/// <summary>How components outside a circuit are removed.</summary>
public enum Ablation
{
    /// <summary>Each outside component takes its activation from the corrupted prompt (interchange ablation).</summary>
    Corrupted,
    /// <summary>Each outside component takes its mean activation over the dataset's clean prompts.</summary>
    Mean,
}

/// <summary>
/// Circuit faithfulness (Wang et al. 2022; MIB, Mueller et al. 2025): with every component outside circuit C ablated,
/// f(C) = (M(C) − M(∅)) / (M(all) − M(∅)), where M(∅) ablates every component and M(all) none, metrics averaged over
/// prompt pairs. So f(all) = 1 and f(∅) = 0 by construction. The curve of f as the circuit grows along a ranking
/// gives MIB's CPR (area under f) and CMD (area between f and 1).
/// </summary>
public sealed class Faithfulness
{
    private readonly HookedTransformer _model;
    private readonly IReadOnlyList<PromptPair> _pairs;
    private readonly IReadOnlyList<Component> _universe;
    private readonly Ablation _ablation;
    private readonly AnswerMetric[] _metrics;
    private readonly Dictionary<Site, Tensor>[] _replacement;
    private readonly Dictionary<Site, Tensor>? _mean;
    private readonly ComponentMasksByLength _masks;
    private readonly double _full, _empty;

    /// <summary>Prepares faithfulness over <paramref name="universe"/> (the components a circuit is chosen from).</summary>
    public Faithfulness(HookedTransformer model, IReadOnlyList<PromptPair> pairs, IReadOnlyList<Component> universe, Ablation ablation = Ablation.Corrupted,
        MetricKind metric = MetricKind.LogitDifference)
    {
        if (pairs.Count == 0) throw new AttributionInputException("Faithfulness needs at least one prompt pair.");
        if (universe.Count == 0) throw new AttributionInputException("Faithfulness needs a non-empty set of components.");
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(model.Config.VocabSize, i, metric);
        foreach (var c in universe) c.Validate(model.Config);
        _model = model;
        _pairs = pairs;
        _universe = universe;
        _ablation = ablation;
        var sites = universe.Select(c => c.Site).Distinct().ToList();
        _masks = new ComponentMasksByLength(universe, model.Config, model.Device);
        using var gc = GcPause.Enter();
        _metrics = AnswerMetric.ForPairs(model, metric, pairs);
        foreach (var m in _metrics) m.Reference?.DetachFromDisposeScope(); // the KL's clean distributions serve every later call
        using (no_grad())
        {
            _replacement = pairs.Select(p => Cache(p.Corrupted, sites)).ToArray();
            if (ablation == Ablation.Mean)
            {
                if (pairs.Select(p => p.Clean.Count).Distinct().Count() > 1)
                    throw new AttributionInputException("Mean ablation needs prompts of one length (means are taken per position).");
                var clean = pairs.Select(p => Cache(p.Clean, sites)).ToArray();
                _mean = sites.ToDictionary(s => s, s => stack(clean.Select(c => c[s]).ToArray()).mean([0]).DetachFromDisposeScope());
            }
        }
        _full = Metric(universe.Select(c => c.Id).ToHashSet());
        _empty = Metric(new HashSet<string>());
        if (Math.Abs(_full - _empty) < 1e-9)
            throw new AttributionInputException("Ablating every component does not change the metric; faithfulness is undefined for this dataset.");
    }

    /// <summary>Mean metric with nothing ablated.</summary>
    public double FullMetric => _full;

    /// <summary>Mean metric with every component of the universe ablated.</summary>
    public double EmptyMetric => _empty;

    /// <summary>The ablation used.</summary>
    public Ablation Ablation => _ablation;

    /// <summary>The components circuits are chosen from.</summary>
    public IReadOnlyList<Component> Universe => _universe;

    /// <summary>f(C) for a circuit given as components (by id).</summary>
    public double Of(IEnumerable<Component> circuit)
    {
        var kept = circuit.Select(c => c.Id).ToHashSet();
        var unknown = kept.Where(id => _universe.All(c => c.Id != id)).ToList();
        if (unknown.Count > 0) throw new AttributionInputException($"Components {string.Join(", ", unknown)} are not in the faithfulness universe.");
        using var gc = GcPause.Enter();
        return (Metric(kept) - _empty) / (_full - _empty);
    }

    /// <summary>
    /// Faithfulness as the circuit grows along <paramref name="ranking"/> (most important first): points (k/N, f(top k))
    /// for k = 0..N, N = |universe|.
    /// </summary>
    public IReadOnlyList<(double Fraction, double Faithfulness)> Curve(IReadOnlyList<Component> ranking)
    {
        using var gc = GcPause.Enter();
        var curve = new List<(double, double)>();
        for (int k = 0; k <= ranking.Count; k++)
            curve.Add(((double)k / _universe.Count, Of(ranking.Take(k))));
        return curve;
    }

    /// <summary>MIB's CPR: area under the faithfulness curve (trapezoid rule; higher is better).</summary>
    public static double Cpr(IReadOnlyList<(double Fraction, double Faithfulness)> curve) =>
        Area(curve, f => f);

    /// <summary>MIB's CMD: area between the faithfulness curve and 1 (lower is better).</summary>
    public static double Cmd(IReadOnlyList<(double Fraction, double Faithfulness)> curve) =>
        Area(curve, f => Math.Abs(1 - f));

    private static double Area(IReadOnlyList<(double Fraction, double Faithfulness)> curve, Func<double, double> g)
    {
        double area = 0;
        for (int i = 1; i < curve.Count; i++)
            area += (curve[i].Fraction - curve[i - 1].Fraction) * (g(curve[i].Faithfulness) + g(curve[i - 1].Faithfulness)) / 2;
        return area;
    }

    private double Metric(HashSet<string> kept)
    {
        double total = 0;
        using var _ = no_grad();
        for (int i = 0; i < _pairs.Count; i++)
        {
            using var scope = NewDisposeScope();
            var input = ModelInput.Single(_pairs[i].Clean, _model.Device);
            var plan = new HookPlan(_model.Config);
            var masks = _masks.For((int)input.Positions);
            foreach (var site in masks.Sites)
            {
                // The union of the ablated components' masks at this site.
                var members = masks.Members(site);
                float[] outside = [.. members.Select(m => kept.Contains(_universe[m].Id) ? 0f : 1f)];
                if (outside.All(v => v == 0)) continue;
                var mask = masks.Spread(site, tensor(outside, [1, members.Length], device: _model.Device)) > 0;
                var value = _ablation == Ablation.Mean ? _mean![site] : _replacement[i][site];
                plan.Add(new Replace(site, value, mask));
            }
            total += _metrics[i].Measure(_model, input, plan).to_type(ScalarType.Float64).item<double>();
        }
        return total / _pairs.Count;
    }

    private Dictionary<Site, Tensor> Cache(IReadOnlyList<int> ids, IReadOnlyList<Site> sites)
    {
        var plan = new HookPlan(_model.Config).Cache(sites);
        _model.Forward(ModelInput.Single(ids, _model.Device), plan);
        return sites.ToDictionary(s => s, s => plan[s].DetachFromDisposeScope());
    }
}
