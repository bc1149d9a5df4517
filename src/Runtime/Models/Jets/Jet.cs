using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models.Jets;

/// <summary>
/// A second-order Taylor jet of an activation along one scalar t per batch row: the value x(t), its first derivative
/// ẋ = dx/dt and its second ẍ = d²x/dt². Pushing jets forward through the network (Taylor-mode differentiation)
/// gives φ(t), φ′(t) and φ″(t) = δᵀHδ in one pass, with no graph and no backward. Null derivatives are zero, so work
/// upstream of every patch costs a plain forward; the value may keep batch 1 while derivatives carry one row per
/// patched component (at t = 0 all rows share the clean value), or one row per prompt while derivatives carry an
/// equal run of rows per prompt, in the value's order (the rows of several prompts at t = 0).
/// </summary>
/// <param name="Value">x(t).</param>
/// <param name="First">dx/dt, or null for zero.</param>
/// <param name="Second">d²x/dt², or null for zero.</param>
public readonly record struct Jet(Tensor Value, Tensor? First = null, Tensor? Second = null)
{
    /// <summary>A constant (both derivatives zero).</summary>
    public static Jet Constant(Tensor value) => new(value);

    /// <summary>Applies a map that is linear in its argument (views, transposes, selections, linear layers) to each part.</summary>
    public Jet Map(Func<Tensor, Tensor> linear) => new(linear(Value), Apply(First, linear), Apply(Second, linear));

    /// <summary>Applies an affine map: <paramref name="affine"/> to the value, its linear part to the derivatives.</summary>
    public Jet Map(Func<Tensor, Tensor> affine, Func<Tensor, Tensor> linear) => new(affine(Value), Apply(First, linear), Apply(Second, linear));

    /// <summary>
    /// Applies a linear map once to value and derivatives stacked along the batch dimension: one matmul reads the
    /// weights once instead of three times, which is most of the cost when rows are few. Falls back to
    /// <see cref="Map(Func{Tensor, Tensor})"/> when the parts' trailing shapes differ.
    /// </summary>
    public Jet MapStacked(Func<Tensor, Tensor> linear)
    {
        var outputs = Stacked(linear, [Value, First, Second]);
        return new(outputs[0]!, outputs[1], outputs[2]);
    }

    /// <summary>
    /// <see cref="MapStacked"/> for a linear map whose output at the value is known already (<paramref name="value"/>):
    /// only the derivatives are multiplied, stacked.
    /// </summary>
    public Jet MapDerivatives(Func<Tensor, Tensor> linear, Tensor value)
    {
        var outputs = Stacked(linear, [First, Second]);
        return new(value, outputs[0], outputs[1]);
    }

    // The linear map applied to each present part (null parts stay null) by one product over them stacked along the
    // batch dimension, or part by part where their trailing shapes differ.
    private static Tensor?[] Stacked(Func<Tensor, Tensor> linear, Tensor?[] parts)
    {
        var present = parts.OfType<Tensor>().ToArray();
        var trailing = present.Length == 0 ? [] : present[0].shape[1..];
        if (present.Length <= 1 || present.Any(p => !p.shape[1..].SequenceEqual(trailing)))
            return [.. parts.Select(p => Apply(p, linear))];
        var outputs = linear(cat(present, 0)).split([.. present.Select(p => p.shape[0])], 0);
        int next = 0;
        return [.. parts.Select(p => p is null ? null : outputs[next++])];
    }

    /// <summary>Sum of two jets.</summary>
    public static Jet operator +(Jet x, Jet y) => new(x.Value + y.Value, Plus(x.First, y.First), Plus(x.Second, y.Second));

    /// <summary>Difference of two jets.</summary>
    public static Jet operator -(Jet x, Jet y) => new(x.Value - y.Value, Plus(x.First, Negate(y.First)), Plus(x.Second, Negate(y.Second)));

    /// <summary>Scales every part by a constant (a tensor broadcast against the jet, or a number).</summary>
    public static Jet operator *(Jet x, Tensor constant) => x.Map(t => t * constant);

    /// <inheritdoc cref="op_Multiply(Jet, Tensor)"/>
    public static Jet operator *(Jet x, double constant) => x.Map(t => t * constant);

    /// <summary>Adds a constant to the value.</summary>
    public Jet Shift(Tensor constant) => this with { Value = Value + constant };

    /// <inheritdoc cref="Shift(Tensor)"/>
    public Jet Shift(double constant) => this with { Value = Value + constant };

    /// <summary>Product rule for any bilinear <paramref name="product"/> (elementwise or matmul): (xy)″ = x″y + 2x′y′ + xy″.</summary>
    public static Jet Bilinear(Jet x, Jet y, Func<Tensor, Tensor, Tensor> product)
    {
        Tensor TimesY(Tensor a) => PerValueRow(a, y.Value, product);
        Tensor XTimes(Tensor b) => PerValueRow(b, x.Value, (d, v) => product(v, d));
        var first = Plus(Apply(x.First, TimesY), Apply(y.First, XTimes));
        var cross = x.First is null || y.First is null ? null : product(x.First, y.First) * 2.0;
        var second = Plus(Plus(Apply(x.Second, TimesY), cross), Apply(y.Second, XTimes));
        return new(product(x.Value, y.Value), first, second);
    }

    /// <summary>Elementwise product.</summary>
    public static Jet operator *(Jet x, Jet y) => Bilinear(x, y, (a, b) => a * b);

    /// <summary>Matrix product.</summary>
    public static Jet MatMul(Jet x, Jet y) => Bilinear(x, y, matmul);

    /// <summary>
    /// An elementwise function f given by f, f′ and f″ at the value: y′ = f′x′, y″ = f′x″ + f″x′².
    /// </summary>
    public Jet Elementwise(Func<Tensor, (Tensor F, Tensor D1, Tensor D2)> f)
    {
        if (First is null && Second is null) return new(f(Value).F);
        var (y, d1, d2) = f(Value);
        var second = Plus(Apply(Second, b => PerValueRow(b, d1, (d, v) => v * d)), Apply(First, a => PerValueRow(a.square(), d2, (d, v) => v * d)));
        return new(y, Apply(First, a => PerValueRow(a, d1, (d, v) => v * d)), second);
    }

    /// <summary>Softmax over <paramref name="dim"/>: p′ = p(x′ − ⟨p, x′⟩), p″ = p′(x′ − ⟨p, x′⟩) + p(x″ − ⟨p′, x′⟩ − ⟨p, x″⟩).</summary>
    public Jet Softmax(long dim)
    {
        var p = Value.softmax(dim);
        if (First is null && Second is null) return new(p);
        long end = dim < 0 ? dim : dim - Value.dim(); // counted from the end: grouped rows add a leading dimension
        Tensor Centre(Tensor a) => PerValueRow(a, p, (d, v) => d - (v * d).sum(end, keepdim: true));
        Tensor TimesP(Tensor a) => PerValueRow(a, p, (d, v) => v * d);
        var centred = Apply(First, Centre);
        var first = Apply(centred, TimesP);
        var second = Plus(first is null ? null : first * centred!,
            Apply(Plus(Apply(Second, Centre), first is null ? null : -(first * First!).sum(end, keepdim: true)), TimesP));
        return new(p, first, second);
    }

    /// <summary>
    /// log Σ exp over the last dimension, kept (the softmax's normaliser): with p the softmax, y′ = ⟨p, x′⟩ and
    /// y″ = ⟨p, x″⟩ + ⟨p, x′²⟩ − ⟨p, x′⟩².
    /// </summary>
    public Jet LogSumExpLast()
    {
        var y = Value.logsumexp(-1, keepdim: true);
        if (First is null && Second is null) return new(y);
        var p = Value.softmax(-1);
        Tensor Mean(Tensor a) => PerValueRow(a, p, (d, v) => (v * d).sum(-1, keepdim: true));
        var first = Apply(First, Mean);
        var second = Plus(Plus(Apply(Second, Mean), Apply(First, a => Mean(a.square()))), first is null ? null : -first.square());
        return new(y, first, second);
    }

    /// <summary>
    /// The jet with its value repeated to <paramref name="rows"/> rows, one per derivative row: a value row per pair
    /// meets each of its equal run of rows (a single value row, every row).
    /// </summary>
    public Jet WithValueRows(long rows)
    {
        long valueRows = Value.shape[0];
        if (valueRows == rows) return this;
        if (rows % valueRows != 0) throw new ArgumentException($"{rows} rows do not come in equal runs for {valueRows} value rows.", nameof(rows));
        return this with { Value = valueRows == 1 ? Value.expand([rows, .. Value.shape[1..]]) : Value.repeat_interleave(rows / valueRows, 0) };
    }

    /// <summary>
    /// Retires the second derivative at a point whose adjoint ȳ = ∂M/∂(this activation) at the clean run is known:
    /// ẍ enters M only through ȳᵀẍ downstream, so that number is taken now (one per derivative row, each meeting its
    /// value row's adjoint) and the jet goes on with ẍ = 0 — the later linear maps then carry only value and ẋ.
    /// </summary>
    public (Jet Remaining, Tensor? Contribution) Retire(Tensor adjoint)
    {
        if (Second is null) return (this, null);
        var product = PerValueRow(Second, adjoint, (d, a) => d * a);
        return (this with { Second = null }, product.reshape(product.shape[0], -1).sum(1));
    }

    /// <summary>Mean over the last dimension, kept.</summary>
    public Jet MeanLast() => Map(t => t.mean([-1], keepdim: true));

    /// <summary>Masks entries of the value to <paramref name="fill"/> (a constant there, so derivatives are 0).</summary>
    public Jet MaskedFill(Tensor mask, double fill) => Map(v => v.masked_fill(mask, fill), d => d.masked_fill(mask, 0));

    /// <summary>Moves the parts <paramref name="scope"/> owns to its outer scope, so they outlive it.</summary>
    public Jet KeepBeyond(TorchSharp.DisposeScope scope)
    {
        scope.MoveToOuter(new[] { Value, First, Second }.OfType<Tensor>());
        return this;
    }

    /// <summary>Joins a constant [1, …] (expanded over each part's batch) before the jet along <paramref name="dim"/>; derivatives are 0 there.</summary>
    public Jet PrependConstant(Tensor constant, long dim)
    {
        Tensor Join(Tensor part, bool derivative)
        {
            long[] shape = [part.shape[0], .. constant.shape[1..]];
            var head = derivative ? zeros(shape, dtype: part.dtype, device: part.device) : constant.expand(shape);
            return cat([head, part], dim);
        }
        return new(Join(Value, false), Apply(First, f => Join(f, true)), Apply(Second, f => Join(f, true)));
    }

    /// <summary>The jet of a + t·δ: derivative + <paramref name="direction"/> (δ), value + <paramref name="valueOffset"/> (t·δ; null when t = 0).</summary>
    public Jet AddDirection(Tensor direction, Tensor? valueOffset) =>
        new(valueOffset is null ? Value : Value + valueOffset, Plus(First, direction), Second);

    /// <summary>
    /// <paramref name="op"/>(derivative, factor) for a factor computed from the value: broadcast directly when the value
    /// has one row or as many as the derivative, else each value row meets its own run of derivative rows.
    /// </summary>
    private static Tensor PerValueRow(Tensor derivative, Tensor factor, Func<Tensor, Tensor, Tensor> op)
    {
        long rows = factor.shape[0], derivativeRows = derivative.shape[0];
        if (rows == 1 || rows == derivativeRows) return op(derivative, factor);
        if (derivativeRows % rows != 0)
            throw new ArgumentException($"{derivativeRows} derivative rows do not come in equal runs for {rows} value rows.", nameof(derivative));
        var grouped = op(derivative.view([rows, derivativeRows / rows, .. derivative.shape[1..]]), factor.unsqueeze(1));
        return grouped.reshape([derivativeRows, .. grouped.shape[2..]]);
    }

    private static Tensor? Apply(Tensor? t, Func<Tensor, Tensor> f) => t is null ? null : f(t);

    private static Tensor? Negate(Tensor? t) => t is null ? null : -t;

    private static Tensor? Plus(Tensor? a, Tensor? b) => a is null ? b : b is null ? a : a + b;
}
