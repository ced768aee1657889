#pragma once
// Loading an uncompressed vmlinux ELF through the PVH boot ABI (Xen
// docs/misc/pvh.pandoc): 32-bit protected mode entry from the
// XEN_ELFNOTE_PHYS32_ENTRY note, EBX = hvm_start_info.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "amber/guest_memory.h"
#include "firmware/boot_result.h"

namespace amber::x86 {

// A PT_LOAD segment after validation.
struct ElfSegment {
  uint64_t offset = 0, paddr = 0, filesz = 0, memsz = 0;
};

struct PvhImage {
  std::vector<ElfSegment> segments;
  uint64_t entry = 0;      // XEN_ELFNOTE_PHYS32_ENTRY
  uint64_t load_end = 0;   // highest p_paddr + p_memsz
};

// True when `file` starts with the ELF magic.
bool is_elf(std::span<const uint8_t> file);

// True when `file` is an ELF64 whose PT_NOTE segments hold the Xen PVH
// entry note; never throws (format detection, kernel_loader.h).
bool has_pvh_entry_note(std::span<const uint8_t> file);

// Validates an ELF64 x86-64 image whose PT_LOAD segments fit in
// [1 MiB, low_ram_end) and finds its PVH entry note. Throws Error.
PvhImage parse_pvh_elf(std::span<const uint8_t> file, uint64_t low_ram_end);

// Loads the segments (zeroing each bss tail), the command line, the initrd
// (as module 0) and hvm_start_info with the e820 memmap; returns vCPU 0 in
// 32-bit protected mode at the PVH entry with EBX = start_info.
BootResult load_pvh(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const uint8_t> initrd,
                    const std::string& cmdline, uint64_t mem_bytes);

}  // namespace amber::x86
