using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Loading;

/// <summary>
/// Reader for llama2.c's legacy <c>.bin</c> checkpoints (e.g. stories260K): a 7-int header, then float32 weights in
/// run.c's order. q/k rows are permuted from llama2.c's interleaved RoPE pairing to HF's rotate_half pairing, so
/// the model runs as an ordinary Llama.
/// </summary>
public static class Llama2cCheckpoint
{
    /// <summary>Reads the config and our parameter tensors from <paramref name="path"/>.</summary>
    public static (ModelConfig Config, Dictionary<string, Tensor> Parameters) Read(string path)
    {
        if (!File.Exists(path)) throw new ModelLoadException(path, "file not found.");
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var header = ReadHeader(reader, stream.Length, path);
        var (dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared) = header;
        int headDim = header.HeadDim, kvDim = header.KvDim;

        Tensor Next(params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var bytes = reader.ReadBytes(checked((int)(n * 4)));
            var t = empty(shape, dtype: ScalarType.Float32);
            t.bytes = bytes;
            return t;
        }

        var config = new ModelConfig
        {
            Family = ModelFamily.Llama,
            VocabSize = vocab, Hidden = dim, Layers = layers, Heads = heads, KvHeads = kvHeads, HeadDim = headDim,
            Intermediate = hidden, MaxPositions = seqLen, Norm = NormKind.RmsNorm, NormEps = 1e-5, Act = Activation.Silu,
            GatedMlp = true, RotaryDims = headDim, RopeTheta = 10000, TiedEmbeddings = shared, BosTokenId = 1, EosTokenId = 2,
        };
        var p = new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["embed"] = Next(vocab, dim) };
        Tensor[] PerLayer(params long[] shape) => Enumerable.Range(0, layers).Select(_ => Next(shape)).ToArray();
        var rmsAtt = PerLayer(dim);
        var wq = PerLayer(dim, dim);
        var wk = PerLayer(kvDim, dim);
        var wv = PerLayer(kvDim, dim);
        var wo = PerLayer(dim, dim);
        var rmsFfn = PerLayer(dim);
        var w1 = PerLayer(hidden, dim);
        var w2 = PerLayer(dim, hidden);
        var w3 = PerLayer(hidden, dim);
        p["final_norm.weight"] = Next(dim);
        Next(seqLen, headDim / 2); // legacy freq_cis_real, unused
        Next(seqLen, headDim / 2); // legacy freq_cis_imag, unused
        if (!shared) p["unembed"] = Next(vocab, dim);

        for (int l = 0; l < layers; l++)
        {
            string pre = $"layers.{l}.";
            p[pre + "attn_norm.weight"] = rmsAtt[l];
            p[pre + "attn.q_proj.weight"] = ToRotateHalf(wq[l], heads, dim);
            p[pre + "attn.k_proj.weight"] = ToRotateHalf(wk[l], kvHeads, dim);
            p[pre + "attn.v_proj.weight"] = wv[l];
            p[pre + "attn.o_proj.weight"] = wo[l];
            p[pre + "mlp_norm.weight"] = rmsFfn[l];
            p[pre + "mlp.gate_proj.weight"] = w1[l];
            p[pre + "mlp.down_proj.weight"] = w2[l];
            p[pre + "mlp.up_proj.weight"] = w3[l];
        }
        return (config, p);
    }

    /// <summary>Whether <paramref name="path"/> holds a plausible llama2.c checkpoint (its header, and the size the header implies).</summary>
    public static bool IsCheckpoint(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            ReadHeader(reader, stream.Length, path);
            return true;
        }
        catch (Exception e) when (e is ModelLoadException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // The 28-byte header (dim, hidden, layers, heads, kv heads, ±vocab — negative when the classifier is not shared —
    // and sequence length), checked for plausibility and against the file's size.
    private static Header ReadHeader(BinaryReader reader, long length, string path)
    {
        if (length < 28) throw new ModelLoadException(path, "truncated: shorter than the 28-byte llama2.c header.");
        int dim = reader.ReadInt32(), hidden = reader.ReadInt32(), layers = reader.ReadInt32(), heads = reader.ReadInt32(),
            kvHeads = reader.ReadInt32(), vocab = reader.ReadInt32(), seqLen = reader.ReadInt32();
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || seqLen <= 0 || dim % heads != 0 || heads % kvHeads != 0)
            throw new ModelLoadException(path, $"implausible header (dim {dim}, hidden {hidden}, layers {layers}, heads {heads}, kv heads {kvHeads}, seq {seqLen}); is this a llama2.c legacy checkpoint?");
        var h = new Header(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), seqLen, Shared: vocab > 0);
        long floats = (length - 28) / 4;
        long needed = (long)h.Vocab * dim + layers * (2L * dim + 2L * dim * dim + 2L * h.KvDim * dim + 3L * hidden * dim) + dim + (long)seqLen * h.HeadDim
            + (h.Shared ? 0 : (long)h.Vocab * dim);
        if (floats < needed)
            throw new ModelLoadException(path, $"truncated: header implies {needed} floats, file holds {floats}.");
        return h;
    }

    private readonly record struct Header(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Vocab, int SeqLen, bool Shared)
    {
        public int HeadDim => Dim / Heads;
        public int KvDim => KvHeads * HeadDim;
    }

    // The HF conversion's permutation: rows (2i, 2i+1) of each head become rows (i, i + d/2).
    private static Tensor ToRotateHalf(Tensor w, int heads, int inFeatures) =>
        w.view(heads, w.shape[0] / heads / 2, 2, inFeatures).transpose(1, 2).reshape(w.shape[0], inFeatures).contiguous();
}
