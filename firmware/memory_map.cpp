#include "firmware/memory_map.h"

#include <algorithm>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_layout.h"

namespace amber::x86 {

void validate_mem_size(uint64_t mem_bytes) {
  // KVM memory slots are page granular; the boot data below 1 MiB, the
  // kernel at 1 MiB and its decompression space need well above 16 MiB in
  // practice, so less is certainly a configuration mistake.
  if (mem_bytes < kMinMemBytes)
    throw Error(fmt::format("memory size {} bytes is below the minimum of {} MiB", mem_bytes, kMinMemBytes >> 20));
  if (mem_bytes > kMaxMemBytes)
    throw Error(fmt::format("memory size {} bytes is above the maximum of {} GiB", mem_bytes, kMaxMemBytes >> 30));
  if (mem_bytes % kPageSize != 0)
    throw Error(fmt::format("memory size {} bytes is not a multiple of the {} KiB page size", mem_bytes, kPageSize >> 10));
}

uint64_t low_ram_end(uint64_t mem_bytes) {
  validate_mem_size(mem_bytes);
  return std::min(mem_bytes, layout::kMmioHoleStart);
}

std::vector<RamRange> ram_layout(uint64_t mem_bytes) {
  uint64_t low = low_ram_end(mem_bytes);
  std::vector<RamRange> out{{0, low}};
  if (mem_bytes > low) out.push_back({layout::kMmioHoleEnd, mem_bytes - low});
  return out;
}

std::vector<MemoryMapEntry> memory_map(uint64_t mem_bytes) {
  // The reserved [EBDA, 1 MiB) range covers the MP table (at the EBDA start,
  // where Linux's smp_scan_config() looks: "last KB of base memory") and the
  // legacy VGA/ROM window; a PC BIOS reports the same.
  std::vector<MemoryMapEntry> out{
      {0, layout::kEbdaStart, kE820Ram},
      {layout::kEbdaStart, layout::kHighMemStart - layout::kEbdaStart, kE820Reserved},
  };
  for (const RamRange& r : ram_layout(mem_bytes)) {
    if (r.gpa == 0)
      out.push_back({layout::kHighMemStart, r.size - layout::kHighMemStart, kE820Ram});
    else
      out.push_back({r.gpa, r.size, kE820Ram});
  }
  return out;
}

}  // namespace amber::x86
