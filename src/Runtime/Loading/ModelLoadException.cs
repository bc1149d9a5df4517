namespace CircuitDsl.Runtime.Loading;

/// <summary>A checkpoint, config or tokenizer could not be loaded. The message names the file and, where one is
/// involved, the tensor, and says what to do.</summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="file">The file being read.</param>
    /// <param name="message">What went wrong, and what to do.</param>
    /// <param name="tensor">The tensor involved, if any.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public ModelLoadException(string file, string message, string? tensor = null, Exception? inner = null)
        : base($"{file}{(tensor is null ? "" : $" [{tensor}]")}: {message}", inner)
    {
        File = file;
        Tensor = tensor;
    }

    /// <summary>The file being read.</summary>
    public string File { get; }

    /// <summary>The tensor involved, if any.</summary>
    public string? Tensor { get; }
}
