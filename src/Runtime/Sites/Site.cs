using CircuitDsl.Runtime.Loading;

namespace CircuitDsl.Runtime.Sites;

/// <summary>A named activation site: a <see cref="SiteKind"/> at a layer (layer is ignored for global kinds).</summary>
/// <param name="Kind">What the site is.</param>
/// <param name="Layer">Layer index for per-layer kinds; 0 for global kinds.</param>
public readonly record struct Site(SiteKind Kind, int Layer = 0)
{
    /// <summary>Number of per-layer site kinds.</summary>
    public const int KindsPerLayer = (int)SiteKind.Embed;

    private static readonly string[] Names =
    [
        "resid_pre", "attn.q", "attn.k", "attn.v", "attn.scores", "attn.pattern", "attn.z", "attn.result",
        "attn_out", "resid_mid", "mlp.pre", "mlp.post", "mlp_out", "resid_post", "embed", "final_norm", "logits",
    ];

    /// <summary>True for <see cref="SiteKind.Embed"/>, <see cref="SiteKind.FinalNorm"/> and <see cref="SiteKind.Logits"/>.</summary>
    public bool IsGlobal => Kind >= SiteKind.Embed;

    /// <summary>The short vocabulary name of a kind, e.g. <c>attn.z</c>.</summary>
    public static string NameOf(SiteKind kind) => Names[(int)kind];

    /// <summary>Dense index of this site in a model with <paramref name="layers"/> layers (no string lookups at run time).</summary>
    public int Ordinal(int layers) => IsGlobal ? layers * KindsPerLayer + (Kind - SiteKind.Embed) : Layer * KindsPerLayer + (int)Kind;

    /// <summary>Number of distinct sites in a model with <paramref name="layers"/> layers.</summary>
    public static int Count(int layers) => layers * KindsPerLayer + 3;

    /// <summary>The canonical name, e.g. <c>blocks.3.attn.z</c> or <c>logits</c>.</summary>
    public override string ToString() => IsGlobal ? NameOf(Kind) : $"blocks.{Layer}.{NameOf(Kind)}";

    /// <summary>Parses a canonical name (<c>blocks.3.attn.z</c>, <c>logits</c>).</summary>
    public static Site Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int kind = Array.IndexOf(Names, text);
        if (kind >= (int)SiteKind.Embed)
            return new Site((SiteKind)kind);
        if (text.StartsWith("blocks.", StringComparison.Ordinal))
        {
            int dot = text.IndexOf('.', 7);
            if (dot > 7 && int.TryParse(text.AsSpan(7, dot - 7), out int layer) && layer >= 0)
            {
                kind = Array.IndexOf(Names, text[(dot + 1)..]);
                if (kind >= 0 && kind < KindsPerLayer)
                    return new Site((SiteKind)kind, layer);
            }
        }
        throw new FormatException($"'{text}' is not a site name; expected e.g. 'blocks.0.attn.z', 'blocks.2.mlp.post' or 'logits'. Kinds: {string.Join(", ", Names)}.");
    }

    /// <summary>The site's shape after the leading batch dimension, for a model and a sequence length.</summary>
    public long[] Shape(ModelConfig config, int positions)
    {
        SiteValidation.EnsureExists(this, config);
        int t = positions;
        return Kind switch
        {
            SiteKind.AttnQ or SiteKind.AttnZ => [t, config.Heads, config.HeadDim],
            SiteKind.AttnK or SiteKind.AttnV => [t, config.KvHeads, config.HeadDim],
            SiteKind.AttnScores or SiteKind.AttnPattern => [config.Heads, t, t],
            SiteKind.AttnResult => [t, config.Heads, config.Hidden],
            SiteKind.MlpPre or SiteKind.MlpPost => [t, config.Intermediate],
            SiteKind.Logits => [t, config.VocabSize],
            _ => [t, config.Hidden],
        };
    }
}

/// <summary>A site was named that this model does not have.</summary>
public sealed class SiteOutOfRangeException(string message) : ArgumentException(message);

/// <summary>Checks that a site exists in a model.</summary>
public static class SiteValidation
{
    /// <summary>Throws <see cref="SiteOutOfRangeException"/> when <paramref name="site"/> is not in the model.</summary>
    public static void EnsureExists(Site site, ModelConfig config)
    {
        if (!Enum.IsDefined(site.Kind))
            throw new SiteOutOfRangeException($"Unknown site kind {(int)site.Kind}.");
        if (!site.IsGlobal && (site.Layer < 0 || site.Layer >= config.Layers))
            throw new SiteOutOfRangeException($"Site {site} is outside the model: layers are 0..{config.Layers - 1}.");
        if (config.AttentionOnly && site.Kind is SiteKind.MlpPre or SiteKind.MlpPost or SiteKind.MlpOut)
            throw new SiteOutOfRangeException($"Site {site} does not exist: this model is attention-only.");
        if (site.Kind == SiteKind.ResidMid && config.ParallelResidual)
            throw new SiteOutOfRangeException($"Site {site} does not exist in {config.Family}: attention and MLP read the same residual (parallel residual).");
    }
}
