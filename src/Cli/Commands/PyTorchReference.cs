using System.Diagnostics;
using System.Text.Json;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Benchmarks;

namespace CircuitDsl.Cli.Commands;

/// <summary>
/// PyTorch eager times for the same operations on the GPT-2-small shape (bench/pytorch_reference.py), so the bench
/// shows TorchSharp / PyTorch per operation and the engine's HVP against the way a PyTorch user computes it.
/// </summary>
/// <param name="Seconds">Seconds by operation name (the bench's own row names).</param>
/// <param name="Machine">What the script reports about its torch, threads and BLAS.</param>
internal sealed record PyTorchReference(IReadOnlyDictionary<string, double> Seconds, JsonElement Machine)
{
    internal const string Script = "bench/pytorch_reference.py";

    /// <summary>Reads a JSON file the script wrote (<c>--json</c>).</summary>
    public static PyTorchReference Load(string file)
    {
        if (!File.Exists(file)) throw new BenchInputException($"--pytorch: no file '{file}' (give the JSON bench/pytorch_reference.py wrote, or 'run').");
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(file));
            var rows = json.RootElement.GetProperty("rows").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            return new PyTorchReference(rows, json.RootElement.GetProperty("machine").Clone());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new BenchInputException($"--pytorch: '{file}' is not the JSON bench/pytorch_reference.py writes ({e.Message}).");
        }
    }

    /// <summary>The PyTorch times the bench took beside its own (<see cref="BenchRow.ReferenceSeconds"/>).</summary>
    public static PyTorchReference FromRows(IEnumerable<BenchRow> rows, JsonElement machine) =>
        new(rows.Where(r => r.ReferenceSeconds is not null).ToDictionary(r => r.Operation, r => r.ReferenceSeconds!.Value), machine);

    /// <summary>TorchSharp / PyTorch for every operation both measured (target ≤ 1.1), and the engine's HVP against PyTorch's.</summary>
    public IEnumerable<BenchRatio> Compare(IEnumerable<BenchRow> ours)
    {
        var rows = ours.ToList();
        foreach (var row in rows)
            if (Seconds.TryGetValue(row.Operation, out double theirs) && theirs > 0)
                yield return new(row.Shape, $"TorchSharp / PyTorch: {row.Operation}", row.Seconds / theirs, "≤ 1.1", row.Seconds / theirs <= 1.1);
        var engine = rows.FirstOrDefault(r => r.Operation.StartsWith("HVP, all heads (cached start, Taylor", StringComparison.Ordinal));
        if (engine is not null && Seconds.TryGetValue("HVP, all heads (full forward, double backward)", out double reference))
            yield return new(engine.Shape, "engine HVP (jets) / PyTorch HVP (full forwards, double backward)", engine.Seconds / reference, "report", true);
    }

    internal static string FindScript() => WorkingTree.FindAbove(Script)
        ?? throw new BenchInputException($"--pytorch run: {Script} not found above {Directory.GetCurrentDirectory()}; run from the repository.");
}

/// <summary>
/// The reference script kept running beside the bench (<c>--serve</c>): each operation is timed there right after the
/// bench timed it, so the drift of a shared machine, which over minutes exceeds the differences measured, falls on both
/// sides of a ratio alike. The script waits on stdin between operations (its OpenMP threads passive), so it takes no
/// core from the bench's own runs.
/// </summary>
internal sealed class PyTorchServer : IReferenceTimer, IDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _errors = new();
    private HashSet<string> _operations = [];
    private JsonElement _machine;

    private PyTorchServer(Process process)
    {
        _process = process;
        // Drained as it comes, so a chatty stderr cannot fill its pipe and stall the script.
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_errors) _errors.AppendLine(e.Data); };
        process.BeginErrorReadLine();
    }

    /// <summary>Starts the script and waits until its model and pair are ready.</summary>
    public static PyTorchServer Start(string python, int threads)
    {
        var info = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { PyTorchReference.FindScript(), "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), "--serve" })
            info.ArgumentList.Add(arg);
        Process process;
        try { process = Process.Start(info) ?? throw new BenchInputException($"--pytorch run: could not start '{python}'."); }
        catch (System.ComponentModel.Win32Exception e) { throw new BenchInputException($"--pytorch run: could not start '{python}' ({e.Message}); pass --python."); }
        var server = new PyTorchServer(process);
        try
        {
            using var hello = JsonDocument.Parse(server.ReadLine());
            server._operations = hello.RootElement.GetProperty("operations").EnumerateArray().Select(x => x.GetString()!).ToHashSet();
            server._machine = hello.RootElement.GetProperty("machine").Clone();
            return server;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            server.Dispose();
            throw new BenchInputException($"--pytorch run: {PyTorchReference.Script} --serve did not answer as expected ({e.Message}).");
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>What the script reports about its torch, threads and BLAS.</summary>
    public JsonElement Machine => _machine;

    /// <summary>Times <paramref name="operation"/> in PyTorch; null when the script does not have it.</summary>
    public double? Time(string operation)
    {
        if (!_operations.Contains(operation)) return null;
        _process.StandardInput.WriteLine(operation);
        _process.StandardInput.Flush();
        using var answer = JsonDocument.Parse(ReadLine());
        if (!answer.RootElement.TryGetProperty("seconds", out var seconds))
            throw new BenchInputException($"--pytorch run: the script could not time '{operation}': {answer.RootElement}");
        return seconds.GetDouble();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000)) _process.Kill();
        }
        _process.Dispose();
    }

    private string ReadLine()
    {
        if (_process.StandardOutput.ReadLine() is { } line) return line;
        string code = "none yet";
        if (_process.WaitForExit(5_000))
        {
            _process.WaitForExit(); // without a timeout it also waits for the last of stderr to be read
            code = _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        string last;
        lock (_errors) last = _errors.ToString().Trim().Split('\n').LastOrDefault() ?? "";
        throw new BenchInputException($"--pytorch run: {PyTorchReference.Script} stopped (exit code {code}): {last}");
    }
}

/// <summary>Bad input to <c>circuit bench</c>.</summary>
internal sealed class BenchInputException(string message) : ArgumentException(message);
