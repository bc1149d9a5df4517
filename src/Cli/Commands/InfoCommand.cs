using System.CommandLine;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit info</c>: what this build is and what it runs on.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the build, the TorchSharp backend and the devices available.");
        command.SetAction(_ =>
        {
            var table = new Table().AddColumns("property", "value");
            table.AddRow("version", typeof(InfoCommand).Assembly.GetName().Version?.ToString() ?? "?");
            table.AddRow("torch", TorchSharp.torch.__version__);
            table.AddRow("cuda available", TorchSharp.torch.cuda.is_available().ToString());
            table.AddRow("threads", TorchSharp.torch.get_num_threads().ToString());
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
