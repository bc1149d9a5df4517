using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Models;
using Spectre.Console;

namespace CircuitDsl.Cli.Rendering;

/// <summary>
/// Spectre progress bars for long engine loops, one bar per stage; plain output when not a terminal.
/// Everything runs on the engine's thread, bars redrawn when the engine reports: TorchSharp 0.107 frees the Scalars it
/// makes from numbers (every <c>a + b</c> passes one) in their finalizers, so a collection started by another thread's
/// allocation — Spectre's refresh timer, thread-pool callbacks — while a libtorch call reads such a Scalar frees it under
/// that call (crashes seen: "Unknown scalar type", "Expected false to be true" from c10::Scalar). See README, Limitations.
/// </summary>
internal static class ProgressBars
{
    public static T Run<T>(string title, Func<IProgress<AttributionProgress>, T> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return work(SynchronousProgress<AttributionProgress>.None);
        T result = default!;
        Start(ctx =>
        {
            var tasks = new Dictionary<string, ProgressTask>();
            result = work(new SynchronousProgress<AttributionProgress>(p =>
            {
                if (!tasks.TryGetValue(p.Stage, out var task))
                    tasks[p.Stage] = task = ctx.AddTask($"{title}: {p.Stage}", maxValue: Math.Max(1, p.Total));
                task.Value = p.Done;
                ctx.Refresh();
            }));
        });
        return result;
    }

    /// <summary>A progress display redrawn only by <see cref="ProgressContext.Refresh"/> on the caller's thread.</summary>
    public static void Start(Action<ProgressContext> work) =>
        AnsiConsole.Progress().AutoRefresh(false).AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(work);
}
