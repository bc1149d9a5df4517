using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using CircuitDsl.Cli.Commands;

namespace CircuitDsl.Cli;

/// <summary>The <c>circuit</c> command tree.</summary>
public static class CircuitCli
{
    /// <summary>The product version (from the CLI assembly, not the host process).</summary>
    public static string Version =>
        typeof(CircuitCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(CircuitCli).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Builds the root command with every sub-command; <c>--version</c> and <c>--help</c> come built in.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("CircuitDsl: attribution patching you can trust — screen, flag and fix, with error bounds.");
        // The default --version reports the entry assembly, which is the test host when run in-process.
        root.Options.OfType<VersionOption>().Single().Action = new PrintVersion();
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(AttributeCommand.Create());
        root.Subcommands.Add(EdgesCommand.Create());
        root.Subcommands.Add(TrainToyCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(MergeCommand.Create());
        return root;
    }

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Version);
            return 0;
        }
    }
}
