using CircuitDsl.Runtime.Attribution;
using Spectre.Console;

namespace CircuitDsl.Cli.Rendering;

/// <summary>Spectre progress bars for long engine loops, one bar per stage; plain output when not a terminal.</summary>
internal static class ProgressBars
{
    public static T Run<T>(string title, Func<IProgress<AttributionProgress>, T> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return work(new Progress<AttributionProgress>(_ => { }));
        T result = default!;
        AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                // Reported synchronously from the engine's thread: Progress<T> would post to the thread pool.
                result = work(new Synchronous(p =>
                {
                    if (!tasks.TryGetValue(p.Stage, out var task))
                        tasks[p.Stage] = task = ctx.AddTask($"{title}: {p.Stage}", maxValue: Math.Max(1, p.Total));
                    task.Value = p.Done;
                }));
            });
        return result;
    }

    private sealed class Synchronous(Action<AttributionProgress> report) : IProgress<AttributionProgress>
    {
        public void Report(AttributionProgress value) => report(value);
    }
}
