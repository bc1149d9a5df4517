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
    Console.Error.WriteLine($"error: {Describe(ex)}");
    return 2;
}

// ArgumentException appends " (Parameter 'name')" and, when out of range, a line with the value: the message alone reads better.
static string Describe(Exception ex) => ex is ArgumentException { ParamName: { } name }
    ? ex.Message.Split('\n')[0].TrimEnd().Replace($" (Parameter '{name}')", "")
    : ex.Message;
