#include "firmware/boot_helpers.h"

#include <algorithm>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_layout.h"

namespace amber::x86 {

void write_cmdline(const GuestMemory& mem, const std::string& cmdline, uint64_t max_len) {
  max_len = std::min<uint64_t>(max_len, layout::kCmdlineMax - 1);
  if (cmdline.size() > max_len)
    throw Error(fmt::format("cmdline: {} bytes exceed the limit of {} bytes", cmdline.size(), max_len));
  // The kernel stops at the first NUL; refuse rather than silently truncate.
  if (cmdline.find('\0') != std::string::npos) throw Error("cmdline: contains a NUL byte");
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(cmdline.data()), cmdline.size() + 1);
  mem.write(layout::kCmdlineAddr, bytes);
}

uint64_t place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd, uint64_t bottom, uint64_t top) {
  if (initrd.empty()) return 0;
  uint64_t size = initrd.size();
  // Top-down, as boot.rst recommends ("as high as possible"), so the initrd
  // stays clear of the kernel's decompression and early allocations.
  if (size > top || ((top - size) & ~(kPageSize - 1)) < bottom)
    throw Error(fmt::format("initrd: {} bytes do not fit below {:#x} (above the kernel, which ends at {:#x})", size,
                            top, bottom));
  uint64_t addr = (top - size) & ~(kPageSize - 1);
  mem.write(addr, initrd);
  return addr;
}

std::string human_size(uint64_t bytes) {
  if (bytes >= (10ull << 20)) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (10ull << 10)) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

}  // namespace amber::x86
