#pragma once
// The ELF64 structures a PVH loader reads, written from the System V gABI
// ("ELF Header", "Program Header", "Note Section") and the x86-64 psABI.
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

inline constexpr uint8_t kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr uint8_t kElfClass64 = 2;    // e_ident[EI_CLASS]
inline constexpr uint8_t kElfData2Lsb = 1;   // e_ident[EI_DATA]
inline constexpr uint16_t kEmX86_64 = 62;    // e_machine
inline constexpr uint32_t kPtLoad = 1;
inline constexpr uint32_t kPtNote = 4;

// Xen public/elfnote.h: the 32-bit physical entry point of a PVH kernel.
inline constexpr uint32_t kXenElfnotePhys32Entry = 18;

// Every field is naturally aligned, so no packing is needed (checked below).
struct Elf64Ehdr {
  uint8_t e_ident[16];
  uint16_t e_type;
  uint16_t e_machine;
  uint32_t e_version;
  uint64_t e_entry;
  uint64_t e_phoff;
  uint64_t e_shoff;
  uint32_t e_flags;
  uint16_t e_ehsize;
  uint16_t e_phentsize;
  uint16_t e_phnum;
  uint16_t e_shentsize;
  uint16_t e_shnum;
  uint16_t e_shstrndx;
};

struct Elf64Phdr {
  uint32_t p_type;
  uint32_t p_flags;
  uint64_t p_offset;
  uint64_t p_vaddr;
  uint64_t p_paddr;
  uint64_t p_filesz;
  uint64_t p_memsz;
  uint64_t p_align;
};

// Note entries: the 12-byte header, then the name and the descriptor, each
// padded to 4 bytes (gABI "Note Section"; x86-64 ELF notes use 4-byte words).
struct Elf64Nhdr {
  uint32_t n_namesz;
  uint32_t n_descsz;
  uint32_t n_type;
};

static_assert(sizeof(Elf64Ehdr) == 64);
static_assert(offsetof(Elf64Ehdr, e_phoff) == 0x20);
static_assert(offsetof(Elf64Ehdr, e_phentsize) == 0x36);
static_assert(offsetof(Elf64Ehdr, e_phnum) == 0x38);
static_assert(sizeof(Elf64Phdr) == 56);
static_assert(offsetof(Elf64Phdr, p_paddr) == 0x18);
static_assert(offsetof(Elf64Phdr, p_memsz) == 0x28);
static_assert(sizeof(Elf64Nhdr) == 12);

}  // namespace amber::x86
