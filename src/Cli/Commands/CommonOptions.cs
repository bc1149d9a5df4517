using System.CommandLine;
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

    public static torch.Device ParseDevice(string text)
    {
        var device = torch.device(text);
        if (device.type == DeviceType.CUDA && !torch.cuda.is_available())
            throw new ArgumentException($"Device '{text}' was asked for but CUDA is not available in this build (build with -p:TorchBackend=cuda).");
        return device;
    }
}
