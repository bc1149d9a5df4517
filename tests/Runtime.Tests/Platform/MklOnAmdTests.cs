using CircuitDsl.Runtime.Platform;
using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Tests.Platform;

/// <summary>
/// The redirect of MKL's vendor check (<see cref="MklOnAmd"/>): where it applies, what it leaves alone, that it finds
/// libtorch's import, and that MKL's kernels still compute the right products after it.
/// </summary>
public class MklOnAmdTests
{
    [Fact]
    public void On_linux_x64_with_an_amd_cpu_the_check_is_redirected_else_the_outcome_says_why_not()
    {
        var status = MklOnAmd.Apply();

        status.Should().NotBe(MklDispatch.Failed, MklOnAmd.Description);
        bool amdLinux = OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64
            && File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("vendor_id") && l.EndsWith("AuthenticAMD"));
        if (amdLinux && Environment.GetEnvironmentVariable(MklOnAmd.OptOutVariable) != "keep")
            status.Should().Be(MklDispatch.Applied, MklOnAmd.Description);
    }

    [Theory]
    [InlineData(false, null, "AuthenticAMD", MklDispatch.NotApplicable)]
    [InlineData(true, "keep", "AuthenticAMD", MklDispatch.OptedOut)]
    [InlineData(true, null, "GenuineIntel", MklDispatch.IntelCpu)]
    [InlineData(true, "", "AuthenticAMD", null)]
    [InlineData(true, null, "HygonGenuine", null)]
    public void Only_non_intel_linux_x64_without_the_opt_out_goes_on_to_libtorch(bool linuxX64, string? optOut, string vendor, MklDispatch? expected) =>
        MklOnAmd.LeftAlone(linuxX64, optOut, vendor).Should().Be(expected);

    [SkippableFact]
    public void Libtorchs_import_of_the_vendor_check_is_found_in_its_elf_file()
    {
        var library = LibTorchCpu();

        var slot = ElfImportSlot.Find(library, "mkl_serv_intel_cpu_true");

        slot.Should().NotBeNull();
        slot!.ReadOnly.Should().BeFalse("libtorch binds lazily, so its PLT slots stay writable");
        slot.DefinitionAddress.Should().BeInRange(1, slot.ImageSize - 1);
        slot.SlotAddress.Should().BeInRange(1, slot.ImageSize - 1);
        ElfImportSlot.Find(library, "no_such_function_anywhere").Should().BeNull();
    }

    [Fact]
    public void A_file_that_is_not_elf_has_no_import_slot()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "not an ELF file, long enough to hold a header of sixty-four bytes, and then some more.");
            ElfImportSlot.Find(path, "mkl_serv_intel_cpu_true").Should().BeNull();
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Products_after_the_redirect_match_a_plain_loop()
    {
        MklOnAmd.Apply();
        var generator = new TorchSharp.torch.Generator(7);
        // Shapes of the model's skinny products: 16 tokens through 768 → 3072 and back.
        foreach (var (m, k, n) in new[] { (16, 768, 3072), (16, 3072, 768), (1, 64, 48) })
        {
            using var scope = NewDisposeScope();
            var a = randn([m, k], generator: generator);
            var w = randn([n, k], generator: generator);
            var product = nn.functional.linear(a, w).data<float>().ToArray();
            float[] x = a.data<float>().ToArray(), y = w.data<float>().ToArray();
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double expected = 0;
                    for (int t = 0; t < k; t++) expected += (double)x[i * k + t] * y[j * k + t];
                    product[i * n + j].Should().BeApproximately((float)expected, 1e-3f + 1e-5f * (float)Math.Abs(expected), $"row {i}, column {j} of {m}×{k}×{n}");
                }
        }
    }

    private static string LibTorchCpu()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "libtorch_cpu.so");
        Skip.IfNot(File.Exists(path), "libtorch_cpu.so is not beside the tests (not linux-x64, or a CUDA build).");
        return path;
    }
}
