#pragma once
// Multiboot (version 1) kernels, as QEMU's `-kernel` takes them
// (hw/i386/multiboot.c) and the Multiboot Specification 0.6.96 defines them:
// an ELF32 or ELF64 image loaded by its program headers, or any image whose
// header carries the address fields (flag bit 16, the "a.out kludge");
// entered in 32-bit protected mode with EAX = 0x2BADB002 and EBX = the
// multiboot information (docs/boot.md "Multiboot").
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "amber/guest_memory.h"
#include "firmware/boot_result.h"
#include "firmware/multiboot_spec.h"

namespace amber::x86 {

// Where the header search (3.1.1: 4-byte aligned, in the first 8192 bytes)
// found the magic with a valid checksum, and where it found the magic with a
// wrong one (for a clear error when the image is nothing else).
struct MultibootScan {
  std::optional<uint64_t> header_offset;
  std::optional<uint64_t> bad_checksum_offset;
};
MultibootScan scan_multiboot_header(std::span<const uint8_t> file);

// A piece of the file that goes to guest RAM at `paddr`; [filesz, memsz) is
// zeroed (bss).
struct MultibootSegment {
  uint64_t offset = 0, paddr = 0, filesz = 0, memsz = 0;
};

struct MultibootImage {
  enum class Form { kElf32, kElf64, kAddressFields };
  Form form = Form::kElf32;
  uint64_t header_offset = 0;
  uint32_t flags = 0;  // the header's
  std::vector<MultibootSegment> segments;
  uint64_t load_start = 0, load_end = 0;  // lowest and highest physical byte (+1) the image occupies
  uint32_t entry = 0;                     // physical
};

// Finds and validates the header and the image it describes: every segment
// in [1 MiB, low_ram_end) (below 1 MiB is amber's boot data), the entry in a
// loaded segment, address fields consistent with the file. Throws Error.
MultibootImage parse_multiboot(std::span<const uint8_t> file, uint64_t low_ram_end);

// Loads the image (zeroing its bss), the modules (page-aligned, in order,
// above the image), the command line and the multiboot information; returns
// vCPU 0 in 32-bit protected mode at the entry with EAX = 0x2BADB002 and
// EBX = layout::kMultibootInfo. Everything is validated before the first
// byte is written. Throws Error.
BootResult load_multiboot(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const BootModule> modules,
                          const std::string& cmdline, uint64_t mem_bytes);

// The kernel's command line as QEMU composes it: the kernel's file name,
// then a space and the user's arguments (none: the file name alone).
std::string multiboot_command_line(const std::string& kernel_path, const std::string& args);

}  // namespace amber::x86
