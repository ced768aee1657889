#include "firmware/kernel_loader.h"

#include "amber/error.h"
#include "firmware/linux_boot.h"
#include "firmware/memory_map.h"
#include "firmware/pvh_boot.h"

namespace amber::x86 {

BootResult load_kernel(GuestMemory& mem, std::span<const uint8_t> kernel, std::span<const uint8_t> initrd,
                       const std::string& cmdline, uint64_t mem_bytes) {
  validate_mem_size(mem_bytes);
  if (kernel.empty()) throw Error("kernel: file is empty");
  if (is_elf(kernel)) return load_pvh(mem, kernel, initrd, cmdline, mem_bytes);
  return load_bzimage(mem, kernel, initrd, cmdline, mem_bytes);
}

}  // namespace amber::x86
