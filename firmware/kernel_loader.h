#pragma once
// The one entry point the VM builder calls to boot a kernel: bzImage, PVH
// vmlinux or multiboot, told apart by their headers.
#include <cstdint>
#include <span>
#include <string>

#include "amber/guest_memory.h"
#include "firmware/boot_result.h"

namespace amber::x86 {

// The format of `kernel`, by its header, in this order: an ELF64 with the
// Xen PVH entry note -> kPvh; a multiboot header in the first 8192 bytes ->
// kMultiboot; any other ELF64 -> kPvh (its loader says what is missing); the
// "HdrS" magic at 0x202 -> kBzImage. Anything else throws Error naming the
// three formats. Reads only headers, so it is quick on a mapped file.
KernelFormat detect_kernel_format(std::span<const uint8_t> kernel);

// Detects the format, loads the kernel with its `modules` and `cmdline` into
// `mem`, whose regions must cover ram_layout(mem_bytes), and returns vCPU
// 0's state and a one-line description. A Linux format takes at most one
// module, its initrd; a multiboot kernel takes up to kMaxMultibootModules.
// `cmdline` is used as given (for multiboot see multiboot_command_line()).
// The MP table is separate (write_mptable) because it depends on the vCPU
// count. Every malformed input throws amber::Error.
BootResult load_kernel(GuestMemory& mem, std::span<const uint8_t> kernel, std::span<const BootModule> modules,
                       const std::string& cmdline, uint64_t mem_bytes);

}  // namespace amber::x86
