using System.CommandLine;
using System.Diagnostics;
using CircuitDsl.Runtime.Attribution;
using CircuitDsl.Runtime.Sharding;

namespace CircuitDsl.Cli.Commands;

/// <summary>One worker process per device, each running one shard of the same command line; results are merged.</summary>
internal static class Workers
{
    public static AttributionResult Run(IReadOnlyList<string> devices, ParseResult parse, ShardAxis axis)
    {
        if (devices.Count == 0) throw new ArgumentException("--devices lists no device.");
        foreach (var device in devices) CommonOptions.ParseDevice(device); // a bad one fails here, before any worker starts
        string folder = Directory.CreateTempSubdirectory("circuit-shards-").FullName;
        try
        {
            // The parent's arguments minus the orchestration options, plus this worker's shard, device and output.
            var baseArgs = Strip(parse.Tokens.Select(t => t.Value).ToList(), "--devices", "--json", "--device", "--shard", "--partial", "--shard-axis");
            var processes = devices.Select((device, i) =>
            {
                var args = new List<string>(baseArgs) { "--shard", $"{i}/{devices.Count}", "--shard-axis", axis.ToString(), "--device", device, "--partial", Path.Combine(folder, $"{i}.json") };
                var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
                info.ArgumentList.Add(typeof(CircuitCli).Assembly.Location);
                foreach (var a in args) info.ArgumentList.Add(a);
                var process = Process.Start(info)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                return (process, stdout, stderr, device);
            }).ToList();
            foreach (var (process, stdout, stderr, device) in processes)
            {
                process.WaitForExit();
                if (process.ExitCode != 0)
                    throw new InvalidOperationException($"Worker on {device} failed (exit {process.ExitCode}):\n{stderr.Result}{stdout.Result}");
            }
            return ShardedAttribution.Merge([.. Enumerable.Range(0, devices.Count).Select(i => PartialResult.Load(Path.Combine(folder, $"{i}.json")))]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static List<string> Strip(List<string> tokens, params string[] options)
    {
        var result = new List<string>();
        for (int i = 0; i < tokens.Count; i++)
        {
            if (options.Contains(tokens[i])) { i++; continue; }
            result.Add(tokens[i]);
        }
        return result;
    }
}
