using System.Runtime.InteropServices;

namespace CircuitDsl.Runtime.Benchmarks;

/// <summary>Peak resident memory of this process (Linux: VmHWM, resettable through /proc/self/clear_refs).</summary>
public static class PeakMemory
{
    /// <summary>True where peak RSS can be read and reset.</summary>
    public static bool Supported => File.Exists("/proc/self/status") && File.Exists("/proc/self/clear_refs");

    // Returns freed heap pages to the system, then resets the peak to the current RSS.
    private static void Reset()
    {
        if (!Supported) return;
        // Without the trim, glibc keeps freed tensors' pages resident and reuses them, so a later peak shows no growth.
        try { MallocTrim(0); } catch (DllNotFoundException) { } catch (EntryPointNotFoundException) { }
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Peak RSS growth, in bytes, while <paramref name="work"/> runs (0 when unsupported). Allocations above 64 KiB are
    /// mapped on their own meanwhile, so a freed tensor leaves the resident set at once: glibc otherwise keeps freed
    /// pages of up to 32 MiB allocations in its heap, and the peak then counts every chunk's leftovers. The work runs
    /// on a thread of its own, which glibc gives an arena of its own: the heap's free chunks left by earlier work
    /// would otherwise serve large allocations too, and pages touched there stay resident until the end (measured: a
    /// 48-row double-backward pass read 1.4–1.6 GB after an unmeasured run of it, 0.70–0.72 GB on its own thread).
    /// </summary>
    public static long Measure(Action work)
    {
        if (!Supported)
        {
            work();
            return 0;
        }
        bool mapped = TrySetMmapThreshold(64 << 10);
        try
        {
            Reset();
            long before = Current();
            OnOwnThread(work);
            return Math.Max(0, Peak() - before);
        }
        finally
        {
            // glibc's dynamic threshold grows to at most 32 MiB: restore that steady state for whatever runs next.
            if (mapped) TrySetMmapThreshold(32 << 20);
        }
    }

    private static void OnOwnThread(Action work)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { work(); }
            catch (Exception e) { failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        }, maxStackSize: 16 << 20);
        thread.Start();
        thread.Join();
        failure?.Throw();
    }

    private static bool TrySetMmapThreshold(int bytes)
    {
        try { return Mallopt(MmapThreshold, bytes) == 1; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    // Peak RSS since the last reset, in bytes.
    private static long Peak() => Read("VmHWM:");

    // Current RSS, in bytes.
    private static long Current() => Read("VmRSS:");

    private static long Read(string key)
    {
        if (!Supported) return 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
