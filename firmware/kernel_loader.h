#pragma once
// The one entry point the VM builder calls to boot a Linux kernel.
#include <cstdint>
#include <span>
#include <string>

#include "amber/guest_memory.h"
#include "firmware/boot_result.h"

namespace amber::x86 {

// Detects the kernel format (ELF magic -> PVH vmlinux, else bzImage), loads
// it with `initrd` (may be empty) and `cmdline` into `mem`, whose regions must
// cover ram_layout(mem_bytes), and returns vCPU 0's state and a one-line
// description. The MP table is separate (write_mptable) because it depends
// on the vCPU count. Every malformed input throws amber::Error.
BootResult load_kernel(GuestMemory& mem, std::span<const uint8_t> kernel, std::span<const uint8_t> initrd,
                       const std::string& cmdline, uint64_t mem_bytes);

}  // namespace amber::x86
