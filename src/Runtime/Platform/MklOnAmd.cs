using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Platform;

/// <summary>What <see cref="MklOnAmd.Apply"/> found and did.</summary>
public enum MklDispatch
{
    /// <summary>libtorch's calls to MKL's vendor check now answer "Intel": MKL picks its kernels by the CPU's features.</summary>
    Applied,
    /// <summary>An Intel CPU: MKL already picks its kernels by the CPU's features.</summary>
    IntelCpu,
    /// <summary>Not Linux on x86-64: nothing to do.</summary>
    NotApplicable,
    /// <summary>Left alone on request (<see cref="MklOnAmd.OptOutVariable"/> = <c>keep</c>).</summary>
    OptedOut,
    /// <summary>The vendor check is already answered from elsewhere (e.g. an <c>LD_PRELOAD</c>ed library).</summary>
    AlreadyInterposed,
    /// <summary>This libtorch build has no such check to answer (another BLAS, a static or read-only import).</summary>
    NotFound,
    /// <summary>Something unexpected; MKL was left as it was (see <see cref="MklOnAmd.Description"/>).</summary>
    Failed,
}

/// <summary>
/// Lets MKL inside libtorch use its fast kernels on AMD CPUs. libtorch's CPU build links Intel oneMKL, whose dispatch asks
/// <c>mkl_serv_intel_cpu_true</c> whether the CPU is Intel's and takes slower generic kernels on any other vendor's,
/// whatever instructions the CPU has. On this project's AMD EPYC (Zen 4, AVX-512) MKL's own kernels made a one-row
/// forward + backward of the GPT-2-small shape 20–30 % faster and Screen–Flag–Fix 15–20 % (alternating processes).
/// This redirects libtorch's calls to that one function (its PLT slot, what <c>LD_PRELOAD</c> of a function returning
/// 1 does, a common workaround) to a stub answering "Intel", in this process only; no file changes. MKL then picks
/// kernels by the CPU's feature flags, as it does on Intel CPUs, so it never uses an instruction the CPU lacks.
/// It must run before MKL's first call, which caches the answer: <see cref="Models.HookedTransformer"/> applies it when
/// its type is first used. Set <see cref="OptOutVariable"/> to <c>keep</c> to leave MKL as shipped.
/// </summary>
public static class MklOnAmd
{
    /// <summary>Environment variable: <c>keep</c> leaves MKL's vendor check alone.</summary>
    public const string OptOutVariable = "CIRCUITDSL_MKL_VENDOR_CHECK";

    private const string Library = "libtorch_cpu.so", Symbol = "mkl_serv_intel_cpu_true";
    private static readonly Lazy<(MklDispatch Status, string Description)> Outcome = new(Redirect);

    /// <summary>Applies the redirect once per process (later calls return the first outcome).</summary>
    public static MklDispatch Apply() => Outcome.Value.Status;

    /// <summary>The outcome, in a sentence (for logs and the bench's header).</summary>
    public static string Description => Outcome.Value.Description;

    private static (MklDispatch, string) Redirect()
    {
        try
        {
            bool linuxX64 = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;
            switch (LeftAlone(linuxX64, Environment.GetEnvironmentVariable(OptOutVariable), linuxX64 ? CpuVendor() : null))
            {
                case MklDispatch.NotApplicable: return (MklDispatch.NotApplicable, "MKL's vendor check: not Linux x86-64, left alone.");
                case MklDispatch.OptedOut: return (MklDispatch.OptedOut, $"MKL's vendor check: left alone ({OptOutVariable}=keep).");
                case MklDispatch.IntelCpu: return (MklDispatch.IntelCpu, "MKL's vendor check: an Intel CPU, nothing to do.");
            }
            InitializeDeviceType(TorchSharp.DeviceType.CPU); // loads libtorch
            var mappings = Mappings();
            if (LoadedImage(mappings, Library) is not (string path, ulong start))
                return (MklDispatch.NotFound, $"MKL's vendor check: {Library} is not loaded, left alone.");
            if (ElfImportSlot.Find(path, Symbol) is not { ReadOnly: false } import)
                return (MklDispatch.NotFound, $"MKL's vendor check: no writable import of {Symbol} in {Library}, left alone.");
            return Patch(start, import, mappings);
        }
        catch (Exception e) // a speed-up must never be why a run fails
        {
            return (MklDispatch.Failed, $"MKL's vendor check: left alone ({e.GetType().Name}: {e.Message}).");
        }
    }

    /// <summary>Why the check stays as it is before looking at libtorch at all, or null to go on.</summary>
    internal static MklDispatch? LeftAlone(bool linuxX64, string? optOut, string? cpuVendor) =>
        !linuxX64 ? MklDispatch.NotApplicable
        : optOut == "keep" ? MklDispatch.OptedOut
        : cpuVendor == "GenuineIntel" ? MklDispatch.IntelCpu
        : null;

    private static unsafe (MklDispatch, string) Patch(ulong start, ElfImportSlot import, IReadOnlyList<Mapping> mappings)
    {
        // The loader's own lookup must find the definition where the file says, relative to `start`: else `start`
        // is not the load base and the slot's address would be wrong.
        if (!NativeLibrary.TryLoad(import.Path, out var handle)) // already loaded: this only counts one more reference
            return (MklDispatch.NotFound, $"MKL's vendor check: {Library} did not open, left alone.");
        bool found = NativeLibrary.TryGetExport(handle, Symbol, out var definition);
        NativeLibrary.Free(handle);
        if (!found || (ulong)definition != start + import.DefinitionAddress)
            return (MklDispatch.NotFound, $"MKL's vendor check: {Symbol} is not where {Library}'s file puts it, left alone.");
        var slot = (long*)(start + import.SlotAddress);
        if (!Writable(mappings, (ulong)slot)) // a loader that protects it after all: writing would crash the process
            return (MklDispatch.NotFound, $"MKL's vendor check: {Library}'s import of {Symbol} is read-only, left alone.");
        ulong current = (ulong)*slot;
        // Unbound (the PLT's own resolver stub) or bound to the library's definition: both inside its image.
        if (current < start || current >= start + import.ImageSize)
            return (MklDispatch.AlreadyInterposed, "MKL's vendor check: already answered from outside libtorch, left alone.");
        Interlocked.Exchange(ref *slot, (long)ReturnOne());
        return (MklDispatch.Applied, "MKL's vendor check answers \"Intel\": MKL picks its kernels by the CPU's features.");
    }

    // A page holding `mov eax, 1; ret`, made executable once written.
    private static unsafe nint ReturnOne()
    {
        var libc = NativeLibrary.Load("libc.so.6");
        var mmap = (delegate* unmanaged<nint, nuint, int, int, int, nint, nint>)NativeLibrary.GetExport(libc, "mmap");
        var mprotect = (delegate* unmanaged<nint, nuint, int, int>)NativeLibrary.GetExport(libc, "mprotect");
        const int read = 1, write = 2, execute = 4, privateAnonymous = 0x02 | 0x20;
        nint page = mmap(0, 4096, read | write, privateAnonymous, -1, 0);
        if (page == -1) throw new InvalidOperationException("mmap failed.");
        ReadOnlySpan<byte> code = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3];
        code.CopyTo(new Span<byte>((void*)page, code.Length));
        if (mprotect(page, 4096, read | execute) != 0) throw new InvalidOperationException("mprotect failed.");
        return page;
    }

    private static string? CpuVendor() =>
        File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("vendor_id", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();

    // The path and load address of a loaded library: its mapping at file offset 0.
    private static (string Path, ulong Start)? LoadedImage(IReadOnlyList<Mapping> mappings, string name) =>
        mappings.Where(m => m.Path.EndsWith("/" + name, StringComparison.Ordinal) && m.Offset == 0)
            .Select(m => ((string, ulong)?)(m.Path, m.Start)).FirstOrDefault();

    private static bool Writable(IReadOnlyList<Mapping> mappings, ulong address) =>
        mappings.Any(m => address >= m.Start && address + 8 <= m.End && m.Permissions.StartsWith("rw", StringComparison.Ordinal));

    // This process's memory mappings, read once (/proc/self/maps: "start-end perms offset dev inode path").
    private static List<Mapping> Mappings()
    {
        var mappings = new List<Mapping>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 5) continue;
            var range = fields[0].Split('-');
            mappings.Add(new(Convert.ToUInt64(range[0], 16), Convert.ToUInt64(range[1], 16), fields[1], Convert.ToUInt64(fields[2], 16), fields.Length > 5 ? fields[5] : ""));
        }
        return mappings;
    }

    private readonly record struct Mapping(ulong Start, ulong End, string Permissions, ulong Offset, string Path);
}
