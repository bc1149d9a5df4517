using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Loading;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Tensor name as stored.</param>
/// <param name="DType">Safetensors dtype string (F32, F16, BF16, ...).</param>
/// <param name="Shape">Tensor shape.</param>
/// <param name="Begin">Start offset in the data section.</param>
/// <param name="End">End offset (exclusive) in the data section.</param>
public sealed record SafeTensorEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>
/// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header, then raw data.
/// The header is read with a bounded length and every entry is checked against the file size before any data is
/// touched, so a truncated or hostile file gives a <see cref="ModelLoadException"/>, never a native crash.
/// </summary>
public sealed class SafeTensorsFile
{
    /// <summary>Headers longer than this are refused (real checkpoints stay far below).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private SafeTensorsFile(string path, long dataStart, IReadOnlyDictionary<string, SafeTensorEntry> entries)
    {
        Path = path;
        DataStart = dataStart;
        Entries = entries;
    }

    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <summary>Byte offset of the data section.</summary>
    public long DataStart { get; }

    /// <summary>Header entries by tensor name.</summary>
    public IReadOnlyDictionary<string, SafeTensorEntry> Entries { get; }

    /// <summary>Reads and validates the header.</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new ModelLoadException(path, "file not found.");
        using var stream = System.IO.File.OpenRead(path);
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new ModelLoadException(path, $"truncated: {fileLength} bytes, fewer than the 8-byte header length.");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw new ModelLoadException(path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes): the file is truncated or not safetensors.");
        if (headerLength > MaxHeaderBytes)
            throw new ModelLoadException(path, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(header);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                var e = property.Value;
                string dtype = e.GetProperty("dtype").GetString() ?? "";
                long[] shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                    throw new ModelLoadException(path, "malformed data_offsets.", property.Name);
                if (offsets[1] > dataLength)
                    throw new ModelLoadException(path, $"data ends at {offsets[1]} but the data section has only {dataLength} bytes: the file is truncated.", property.Name);
                long expected = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype, path, property.Name);
                if (expected != offsets[1] - offsets[0])
                    throw new ModelLoadException(path, $"shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but {offsets[1] - offsets[0]} are stored.", property.Name);
                entries[property.Name] = new SafeTensorEntry(property.Name, dtype, shape, offsets[0], offsets[1]);
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new ModelLoadException(path, $"the JSON header is malformed ({ex.Message}).", inner: ex);
        }
        return new SafeTensorsFile(path, dataStart, entries);
    }

    /// <summary>Reads one tensor into a CPU tensor of its stored dtype.</summary>
    public Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var entry))
            throw new ModelLoadException(Path, "tensor not present in the file.", name);
        var bytes = new byte[entry.End - entry.Begin];
        using (var stream = System.IO.File.OpenRead(Path))
        {
            stream.Seek(DataStart + entry.Begin, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
        }
        var dtype = TorchType(entry.DType, Path, name);
        var t = torch.empty(entry.Shape, dtype: dtype);
        t.bytes = bytes;
        return t;
    }

    /// <summary>Writes float32 tensors in sorted name order with an 8-byte-aligned data section.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = metadata ?? new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, Value: kv.Value.detach().cpu().to_type(ScalarType.Float32).contiguous())).ToList();
        foreach (var (name, value) in ordered)
        {
            long size = value.numel() * 4;
            header[name] = new { dtype = "F32", shape = value.shape, data_offsets = new[] { offset, offset + size } };
            offset += size;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = System.IO.File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var (_, value) in ordered)
            stream.Write(value.bytes);
    }

    private static long ElementSize(string dtype, string path, string tensor) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new ModelLoadException(path, $"unsupported dtype '{dtype}'.", tensor),
    };

    private static ScalarType TorchType(string dtype, string path, string tensor) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new ModelLoadException(path, $"unsupported dtype '{dtype}'.", tensor),
    };
}
