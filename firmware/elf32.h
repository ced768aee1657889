#pragma once
// The ELF32 structures a multiboot loader reads, written from the System V
// gABI ("ELF Header", "Program Header") and the i386 psABI. The ELF64 ones
// and the shared constants are in elf64.h.
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

inline constexpr uint8_t kElfClass32 = 1;  // e_ident[EI_CLASS]
inline constexpr uint16_t kEm386 = 3;      // e_machine

struct Elf32Ehdr {
  uint8_t e_ident[16];
  uint16_t e_type;
  uint16_t e_machine;
  uint32_t e_version;
  uint32_t e_entry;
  uint32_t e_phoff;
  uint32_t e_shoff;
  uint32_t e_flags;
  uint16_t e_ehsize;
  uint16_t e_phentsize;
  uint16_t e_phnum;
  uint16_t e_shentsize;
  uint16_t e_shnum;
  uint16_t e_shstrndx;
};

struct Elf32Phdr {
  uint32_t p_type;
  uint32_t p_offset;
  uint32_t p_vaddr;
  uint32_t p_paddr;
  uint32_t p_filesz;
  uint32_t p_memsz;
  uint32_t p_flags;
  uint32_t p_align;
};

static_assert(sizeof(Elf32Ehdr) == 52);
static_assert(offsetof(Elf32Ehdr, e_phoff) == 0x1c);
static_assert(offsetof(Elf32Ehdr, e_phentsize) == 0x2a);
static_assert(sizeof(Elf32Phdr) == 32);
static_assert(offsetof(Elf32Phdr, p_paddr) == 0x0c);

}  // namespace amber::x86
