#pragma once
// What a kernel loader takes besides the kernel, and what it hands back to
// the VM builder.
#include <cstdint>
#include <span>
#include <string>

#include "amber/cpu_boot_state.h"

namespace amber::x86 {

// The kernel formats load_kernel() recognises (kernel_loader.h).
enum class KernelFormat { kBzImage, kPvh, kMultiboot };

// The name an image's configuration records ("bzimage", "pvh", "multiboot").
const char* kernel_format_name(KernelFormat f);

// bzImage and PVH are Linux boot protocols: their kernels need a KVM that
// runs Linux (`amber doctor`). A multiboot kernel is a bare-metal guest.
inline bool is_linux_format(KernelFormat f) { return f != KernelFormat::kMultiboot; }

// A file handed to the kernel with it: the initrd of a Linux kernel, or a
// multiboot module with its string (Multiboot 0.6.96 section 3.3: "the
// string ... usually a command line", QEMU gives the file name and its
// arguments). Linux formats take at most one and ignore the string.
struct BootModule {
  std::span<const uint8_t> data;
  std::string cmdline;
};

struct BootResult {
  KernelFormat format = KernelFormat::kBzImage;
  CpuBootState cpu;         // vCPU 0's initial registers
  std::string description;  // one line for --verbose: format, protocol, entry, initrd
  uint64_t kernel_end = 0;  // first byte above the kernel's memory footprint
  uint64_t initrd_addr = 0; // 0 when there is no initrd (multiboot: the first module)
  uint64_t initrd_size = 0;
};

}  // namespace amber::x86
