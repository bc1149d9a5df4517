using System.Runtime.CompilerServices;

namespace CircuitDsl.Generators.Tests.Support;

/// <summary>
/// A small snapshot comparer (Verify is not available here): compares text with a checked-in
/// <c>Snapshots/{name}.verified.cs</c>, prints a line diff on mismatch, and re-accepts when CDSL_ACCEPT=1.
/// </summary>
public static class Snapshot
{
    public static void Match(string actual, string name, [CallerFilePath] string caller = "")
    {
        string folder = Path.Combine(Path.GetDirectoryName(caller)!, "Snapshots");
        string path = Path.Combine(folder, name + ".verified.cs");
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable("CDSL_ACCEPT") == "1")
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(path, actual);
            return;
        }
        File.Exists(path).Should().BeTrue($"snapshot {path} exists (run with CDSL_ACCEPT=1 to create it)");
        string expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected == actual) return;
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        var diff = new List<string>();
        for (int i = 0; i < Math.Max(e.Length, a.Length) && diff.Count < 30; i++)
        {
            string? x = i < e.Length ? e[i] : null, y = i < a.Length ? a[i] : null;
            if (x != y) diff.Add($"line {i + 1}:\n  - {x}\n  + {y}");
        }
        throw new Xunit.Sdk.XunitException($"Generated source differs from {path} (CDSL_ACCEPT=1 re-accepts):\n{string.Join("\n", diff)}");
    }
}
