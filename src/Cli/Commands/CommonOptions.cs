using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using TorchSharp;

namespace CircuitDsl.Cli.Commands;

/// <summary>Options shared by commands that load a model.</summary>
internal static class CommonOptions
{
    public static Option<string> Model(bool required = true, string? defaultValue = null)
    {
        var option = new Option<string>("--model", "-m")
        {
            Description = "A Hugging Face model folder (config.json + model.safetensors) or a llama2.c .bin file.",
            Required = required && defaultValue is null,
        };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        return option;
    }

    public static Option<string> Device() => new("--device")
    {
        Description = "cpu, cuda or cuda:N.",
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>A count of table rows or measured items (<c>--top</c>): refused at parsing when negative, before any work.</summary>
    public static Option<int> Top(string description, int defaultValue)
    {
        var option = new Option<int>("--top") { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is var n and < 0) result.AddError($"--top must be 0 or more; got {n}.");
        });
        return option;
    }

    /// <summary>A size like 2GB, 512MB, 64KB or a byte count, for <paramref name="option"/>; 0 only where <paramref name="allowZero"/>.</summary>
    public static long ParseBytes(string text, string option, bool allowZero = false)
    {
        string upper = text.Trim().ToUpperInvariant();
        long unit = upper.EndsWith("GB") ? 1L << 30 : upper.EndsWith("MB") ? 1L << 20 : upper.EndsWith("KB") ? 1L << 10 : 1;
        string number = upper.TrimEnd('G', 'M', 'K', 'B');
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && (v > 0 || (allowZero && v == 0))
            ? (long)(v * unit)
            : throw new ArgumentException($"{option} '{text}' is not a size like 2GB or 512MB{(allowZero ? " (or 0)" : "")}.");
    }

    /// <summary>
    /// The device <paramref name="text"/> names. torch.device("cuda") on a build without CUDA fails with a native
    /// trace, and unknown names with an enum-parsing message, so both are checked here first.
    /// </summary>
    public static torch.Device ParseDevice(string text)
    {
        var match = Regex.Match(text.Trim(), "^(cpu|cuda)(?::([0-9]+))?$", RegexOptions.IgnoreCase);
        if (!match.Success)
            throw new ArgumentException($"Unknown device '{text}'; expected cpu, cuda or cuda:N.");
        bool cuda = match.Groups[1].Value.Equals("cuda", StringComparison.OrdinalIgnoreCase);
        if (cuda && !torch.cuda.is_available())
            throw new ArgumentException($"Device '{text}' was asked for but CUDA is not available in this build (build with -p:TorchBackend=cuda).");
        if (cuda && match.Groups[2].Success && int.Parse(match.Groups[2].Value) >= torch.cuda.device_count())
            throw new ArgumentException($"Device '{text}' was asked for but this machine has {torch.cuda.device_count()} CUDA device(s).");
        return torch.device(text.Trim().ToLowerInvariant());
    }
}
