#pragma once
// What a kernel loader hands back to the VM builder.
#include <cstdint>
#include <string>

#include "amber/cpu_boot_state.h"

namespace amber::x86 {

struct BootResult {
  CpuBootState cpu;         // vCPU 0's initial registers
  std::string description;  // one line for --verbose: format, protocol, entry, initrd
  uint64_t kernel_end = 0;  // first byte above the kernel's memory footprint
  uint64_t initrd_addr = 0; // 0 when there is no initrd
  uint64_t initrd_size = 0;
};

}  // namespace amber::x86
