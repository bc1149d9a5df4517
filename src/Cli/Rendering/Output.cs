using System.CommandLine;
using Spectre.Console;

namespace CircuitDsl.Cli.Rendering;

/// <summary>A Spectre console that writes where the command line says (so in-process tests can read it).</summary>
internal static class Output
{
    public static IAnsiConsole Console(ParseResult parse)
    {
        var writer = parse.InvocationConfiguration.Output;
        bool terminal = writer == System.Console.Out && !System.Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!terminal) console.Profile.Width = 160; // files and pipes: no wrapping of wide tables
        return console;
    }
}
