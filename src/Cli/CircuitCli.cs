using System.CommandLine;
using CircuitDsl.Cli.Commands;

namespace CircuitDsl.Cli;

/// <summary>The <c>circuit</c> command tree.</summary>
public static class CircuitCli
{
    /// <summary>Builds the root command with every sub-command; <c>--version</c> and <c>--help</c> come built in.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("CircuitDsl: attribution patching you can trust — screen, flag and fix, with error bounds.");
        root.Subcommands.Add(InfoCommand.Create());
        return root;
    }
}
