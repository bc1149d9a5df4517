using CircuitDsl.Cli;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Sites;

try
{
    return CircuitCli.Build().Parse(args).Invoke(new() { EnableDefaultExceptionHandler = false });
}
catch (Exception ex) when (ex is ModelLoadException or SiteOutOfRangeException or ArgumentException or FormatException or IOException or InvalidOperationException)
{
    // Expected failures (bad files, bad arguments) get one clear line, not a stack trace.
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
