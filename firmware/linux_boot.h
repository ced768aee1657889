#pragma once
// Loading a bzImage per the Linux x86 boot protocol
// (Documentation/arch/x86/boot.rst), entered through its 64-bit entry point.
#include <cstdint>
#include <span>
#include <string>

#include "amber/guest_memory.h"
#include "firmware/boot_params.h"
#include "firmware/boot_result.h"

namespace amber::x86 {

inline constexpr uint16_t kMinBootProtocol = 0x0206;  // cmdline_size exists
inline constexpr uint16_t kKernel64Protocol = 0x020c; // xloadflags exists
inline constexpr uint16_t kHeapEndPtr = 0xfe00;       // boot.rst: setup heap end - 0x200

// The validated facts of a bzImage header.
struct BzImageInfo {
  SetupHeader hdr{};          // from the file; bytes past the header's end zeroed
  uint64_t setup_bytes = 0;   // real-mode part: (setup_sects + 1) * 512
  uint64_t kernel_bytes = 0;  // protected-mode part: the rest of the file
};

// Validates the setup header of `file` (magic, protocol, sizes, 64-bit
// entry). Throws Error naming the first problem found.
BzImageInfo parse_bzimage(std::span<const uint8_t> file);

// The guest memory the kernel needs before it reads the e820 map: from the
// load address to the end of its runtime footprint (init_size at the
// address it relocates itself to).
uint64_t bzimage_footprint_end(const BzImageInfo& info);

// Loads the protected-mode kernel at 1 MiB, the zero page, command line and
// initrd, plus GDT/IDT/page tables; returns vCPU 0 in long mode at the
// 64-bit entry (load address + 0x200) with RSI = zero page.
BootResult load_bzimage(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const uint8_t> initrd,
                        const std::string& cmdline, uint64_t mem_bytes);

}  // namespace amber::x86
