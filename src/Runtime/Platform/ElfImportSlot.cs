using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace CircuitDsl.Runtime.Platform;

/// <summary>
/// Where a shared library's calls to an imported function land: the global-offset-table slot of its PLT entry
/// (an <c>R_X86_64_JUMP_SLOT</c> relocation in <c>.rela.plt</c>), read from the library's ELF64 file. Writing a
/// function's address there redirects the library's calls, as <c>LD_PRELOAD</c> would, in this process only.
/// </summary>
/// <param name="Path">The library file.</param>
/// <param name="SlotAddress">The slot's address relative to the library's load base (<c>r_offset</c>).</param>
/// <param name="DefinitionAddress">The library's own definition of the function relative to its base, or 0.</param>
/// <param name="ImageSize">The span of the library's loadable segments: a slot value inside it is still the library's own.</param>
/// <param name="ReadOnly">True when the slot lies in a segment the loader makes read-only after relocation (RELRO).</param>
internal sealed record ElfImportSlot(string Path, ulong SlotAddress, ulong DefinitionAddress, ulong ImageSize, bool ReadOnly)
{
    private const uint SectionRela = 4, SegmentLoad = 1, SegmentRelro = 0x6474e552, JumpSlot = 7;

    /// <summary>The PLT slot of <paramref name="symbol"/> in the ELF64 little-endian x86-64 file at <paramref name="path"/>, or null.</summary>
    public static unsafe ElfImportSlot? Find(string path, string symbol)
    {
        long length = new FileInfo(path).Length;
        if (length < 64 || length > int.MaxValue) return null;
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            // One span over the mapped file: pages are read as touched (a few of libtorch's 460 MB).
            return Find(new Bytes(new ReadOnlySpan<byte>(start + view.PointerOffset, (int)length)), path, symbol);
        }
        finally { view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }

    private static ElfImportSlot? Find(Bytes elf, string path, string symbol)
    {
        if (elf.U32(0) != 0x464c457f || elf.U8(4) != 2 || elf.U8(5) != 1 || elf.U16(0x12) != 62) return null; // not ELF64 LE x86-64

        ulong imageSize = 0, relroStart = 0, relroEnd = 0;
        for (int i = 0; i < elf.U16(0x38); i++)
        {
            long ph = (long)elf.U64(0x20) + (long)i * elf.U16(0x36);
            ulong vaddr = elf.U64(ph + 0x10), memsz = elf.U64(ph + 0x28);
            if (elf.U32(ph) == SegmentLoad) imageSize = Math.Max(imageSize, vaddr + memsz);
            if (elf.U32(ph) == SegmentRelro) (relroStart, relroEnd) = (vaddr, vaddr + memsz);
        }

        long names = (long)elf.U64(elf.SectionHeader(elf.U16(0x3E)) + 0x18);
        byte[] wanted = Encoding.ASCII.GetBytes(symbol + "\0");
        for (int s = 0; s < elf.U16(0x3C); s++)
        {
            long sh = elf.SectionHeader(s);
            if (elf.U32(sh + 4) != SectionRela || !elf.NameIs(names + elf.U32(sh), ".rela.plt\0"u8)) continue;
            long relocations = (long)elf.U64(sh + 0x18), end = relocations + (long)elf.U64(sh + 0x20);
            long symbolTable = elf.SectionHeader(elf.U32(sh + 0x28));
            long symbols = (long)elf.U64(symbolTable + 0x18), strings = (long)elf.U64(elf.SectionHeader(elf.U32(symbolTable + 0x28)) + 0x18);
            for (long r = relocations; r + 24 <= end; r += 24)
            {
                ulong info = elf.U64(r + 8);
                long sym = symbols + (long)(info >> 32) * 24;
                if ((info & 0xffffffff) != JumpSlot || !elf.NameIs(strings + elf.U32(sym), wanted)) continue;
                ulong slot = elf.U64(r);
                return new ElfImportSlot(path, slot, elf.U64(sym + 8), imageSize, slot >= relroStart && slot < relroEnd);
            }
        }
        return null;
    }

    // Little-endian reads at file offsets.
    private readonly ref struct Bytes(ReadOnlySpan<byte> span)
    {
        private readonly ReadOnlySpan<byte> _span = span;

        public byte U8(long at) => _span[(int)at];
        public ushort U16(long at) => BinaryPrimitives.ReadUInt16LittleEndian(_span[(int)at..]);
        public uint U32(long at) => BinaryPrimitives.ReadUInt32LittleEndian(_span[(int)at..]);
        public ulong U64(long at) => BinaryPrimitives.ReadUInt64LittleEndian(_span[(int)at..]);
        public long SectionHeader(long index) => (long)U64(0x28) + index * U16(0x3A);
        public bool NameIs(long at, ReadOnlySpan<byte> name) => at + name.Length <= _span.Length && _span.Slice((int)at, name.Length).SequenceEqual(name);
    }
}
