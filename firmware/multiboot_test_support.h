#pragma once
// Synthetic multiboot kernels for the firmware unit tests: ELF32, ELF64 and
// the address-field form, each with a recognisable byte pattern.
#include <cstdint>
#include <cstring>
#include <vector>

#include "firmware/elf32.h"
#include "firmware/elf64.h"
#include "firmware/multiboot_spec.h"
#include "firmware/test_support.h"

namespace amber::x86::testing {

inline constexpr uint64_t kMbLoadAddr = 0x100000;
inline constexpr uint64_t kMbFileSz = 0x1000, kMbMemSz = 0x3000;
inline constexpr uint64_t kMbSegOffset = 0x1000;  // the header is the segment's first bytes
inline constexpr uint64_t kMbEntry = kMbLoadAddr + 0x20;

inline void put_mb_header(std::vector<uint8_t>& f, uint64_t off, uint32_t flags) {
  MultibootHeader h{};
  h.magic = kMultibootHeaderMagic;
  h.flags = flags;
  h.checksum = static_cast<uint32_t>(0u - kMultibootHeaderMagic - flags);
  std::memcpy(f.data() + off, &h, kMbHeaderBaseBytes);
}

inline void fill_segment(std::vector<uint8_t>& f, uint64_t off, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) f[off + i] = static_cast<uint8_t>(i * 11 + 3);
}

// One PT_LOAD: file [kMbSegOffset, +kMbFileSz) -> paddr kMbLoadAddr, memsz
// kMbMemSz; p_vaddr = paddr + vaddr_bias (a kernel linked high), e_entry =
// kMbEntry + vaddr_bias.
inline std::vector<uint8_t> make_mb_elf32(uint32_t vaddr_bias = 0, uint32_t flags = kMbHeaderPageAlign | kMbHeaderMemoryInfo) {
  std::vector<uint8_t> f(kMbSegOffset + kMbFileSz, 0);
  fill_segment(f, kMbSegOffset, kMbFileSz);
  Elf32Ehdr eh{};
  std::memcpy(eh.e_ident, kElfMagic, 4);
  eh.e_ident[4] = kElfClass32;
  eh.e_ident[5] = kElfData2Lsb;
  eh.e_ident[6] = 1;
  eh.e_type = 2;
  eh.e_machine = kEm386;
  eh.e_version = 1;
  eh.e_entry = static_cast<uint32_t>(kMbEntry + vaddr_bias);
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf32Phdr);
  eh.e_phnum = 1;
  put(f, 0, eh);
  Elf32Phdr ph{kPtLoad, static_cast<uint32_t>(kMbSegOffset), static_cast<uint32_t>(kMbLoadAddr + vaddr_bias),
               static_cast<uint32_t>(kMbLoadAddr), static_cast<uint32_t>(kMbFileSz), static_cast<uint32_t>(kMbMemSz),
               5, 0x1000};
  put(f, sizeof eh, ph);
  put_mb_header(f, kMbSegOffset, flags);
  return f;
}

inline std::vector<uint8_t> make_mb_elf64(uint64_t vaddr_bias = 0) {
  std::vector<uint8_t> f(kMbSegOffset + kMbFileSz, 0);
  fill_segment(f, kMbSegOffset, kMbFileSz);
  Elf64Ehdr eh{};
  std::memcpy(eh.e_ident, kElfMagic, 4);
  eh.e_ident[4] = kElfClass64;
  eh.e_ident[5] = kElfData2Lsb;
  eh.e_ident[6] = 1;
  eh.e_type = 2;
  eh.e_machine = kEmX86_64;
  eh.e_version = 1;
  eh.e_entry = kMbEntry + vaddr_bias;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64Phdr);
  eh.e_phnum = 1;
  put(f, 0, eh);
  Elf64Phdr ph{kPtLoad, 5, kMbSegOffset, kMbLoadAddr + vaddr_bias, kMbLoadAddr, kMbFileSz, kMbMemSz, 0x1000};
  put(f, sizeof eh, ph);
  put_mb_header(f, kMbSegOffset, kMbHeaderPageAlign | kMbHeaderMemoryInfo);
  return f;
}

// The address-field form: a flat file whose header sits at file offset
// kAoutHeaderOff; the image is loaded from file offset 0 at kAoutLoad up to
// kAoutLoadEnd (the file goes on past it), bss to kAoutBssEnd.
inline constexpr uint64_t kAoutHeaderOff = 0x40;
inline constexpr uint32_t kAoutLoad = 0x200000, kAoutLoadEnd = 0x201000, kAoutBssEnd = 0x204000;
inline constexpr uint32_t kAoutEntry = 0x200100;
inline constexpr uint64_t kAoutFileSz = 0x1800;

inline std::vector<uint8_t> make_mb_aout(MultibootHeader h = {}) {
  std::vector<uint8_t> f(kAoutFileSz, 0);
  fill_segment(f, 0, f.size());
  if (h.magic == 0) {
    h.flags = kMbHeaderAddressFields | kMbHeaderPageAlign;
    h.header_addr = static_cast<uint32_t>(kAoutLoad + kAoutHeaderOff);
    h.load_addr = kAoutLoad;
    h.load_end_addr = kAoutLoadEnd;
    h.bss_end_addr = kAoutBssEnd;
    h.entry_addr = kAoutEntry;
  }
  h.magic = kMultibootHeaderMagic;
  h.checksum = static_cast<uint32_t>(0u - kMultibootHeaderMagic - h.flags);
  put(f, kAoutHeaderOff, h);
  return f;
}

inline MultibootHeader aout_header(const std::vector<uint8_t>& f) { return get<MultibootHeader>(f, kAoutHeaderOff); }

}  // namespace amber::x86::testing
