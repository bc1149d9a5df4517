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
    public static ElfImportSlot? Find(string path, string symbol)
    {
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var elf = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        if (elf.Capacity < 64 || elf.ReadUInt32(0) != 0x464c457f || elf.ReadByte(4) != 2 || elf.ReadByte(5) != 1 || elf.ReadUInt16(0x12) != 62)
            return null; // not ELF64 little-endian x86-64

        ulong imageSize = 0, relroStart = 0, relroEnd = 0;
        long phoff = elf.ReadInt64(0x20);
        for (int i = 0, count = elf.ReadUInt16(0x38); i < count; i++)
        {
            long ph = phoff + (long)i * elf.ReadUInt16(0x36);
            uint type = elf.ReadUInt32(ph);
            ulong vaddr = elf.ReadUInt64(ph + 0x10), memsz = elf.ReadUInt64(ph + 0x28);
            if (type == SegmentLoad) imageSize = Math.Max(imageSize, vaddr + memsz);
            if (type == SegmentRelro) (relroStart, relroEnd) = (vaddr, vaddr + memsz);
        }

        long shoff = elf.ReadInt64(0x28);
        int shentsize = elf.ReadUInt16(0x3A), shnum = elf.ReadUInt16(0x3C), shstrndx = elf.ReadUInt16(0x3E);
        long Section(int index) => shoff + (long)index * shentsize;
        long names = elf.ReadInt64(Section(shstrndx) + 0x18);
        byte[] wanted = Encoding.ASCII.GetBytes(symbol + "\0");
        bool NameIs(long offset, byte[] name)
        {
            for (int k = 0; k < name.Length; k++)
                if (offset + k >= elf.Capacity || elf.ReadByte(offset + k) != name[k]) return false;
            return true;
        }

        for (int s = 0; s < shnum; s++)
        {
            long sh = Section(s);
            if (elf.ReadUInt32(sh + 4) != SectionRela || !NameIs(names + elf.ReadUInt32(sh), ".rela.plt\0"u8.ToArray())) continue;
            long relocations = elf.ReadInt64(sh + 0x18), size = elf.ReadInt64(sh + 0x20);
            long symbols = elf.ReadInt64(Section((int)elf.ReadUInt32(sh + 0x28)) + 0x18);
            long strings = elf.ReadInt64(Section((int)elf.ReadUInt32(Section((int)elf.ReadUInt32(sh + 0x28)) + 0x28)) + 0x18);
            for (long r = relocations; r + 24 <= relocations + size; r += 24)
            {
                ulong info = elf.ReadUInt64(r + 8);
                if ((info & 0xffffffff) != JumpSlot) continue;
                long sym = symbols + (long)(info >> 32) * 24;
                if (!NameIs(strings + elf.ReadUInt32(sym), wanted)) continue;
                ulong slot = elf.ReadUInt64(r);
                return new ElfImportSlot(path, slot, elf.ReadUInt64(sym + 8), imageSize, slot >= relroStart && slot < relroEnd);
            }
        }
        return null;
    }
}
