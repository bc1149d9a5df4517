using System.Diagnostics;
using System.Text.Json;
using CircuitDsl.Runtime.Benchmarks;

namespace CircuitDsl.Cli.Commands;

/// <summary>
/// The reference script kept running beside the bench (<c>--serve</c>): the bench alternates its runs of each operation
/// with runs there (<see cref="CostBenchmark.Run"/>), so the drift of a shared machine, which within a minute exceeds
/// the differences measured, falls on both sides of a ratio alike. Between timings the script waits on stdin with its
/// OpenMP threads passive, and it idles around each timing until OpenBLAS's workers stop spinning, so it takes no core
/// from the bench's own runs.
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
