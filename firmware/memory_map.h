#pragma once
// Guest RAM layout and the e820 map that describes it (docs/boot.md).
#include <cstdint>
#include <vector>

namespace amber::x86 {

// One contiguous range of guest RAM, backed by one memory slot.
struct RamRange {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint64_t end() const noexcept { return gpa + size; }
  bool operator==(const RamRange&) const = default;
};

// One entry of the firmware memory map (e820 type: kE820Ram, kE820Reserved).
struct MemoryMapEntry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
  bool operator==(const MemoryMapEntry&) const = default;
};

// Throws amber::Error unless mem_bytes is a whole number of 4 KiB pages in
// [16 MiB, 1 TiB].
void validate_mem_size(uint64_t mem_bytes);

// The RAM ranges of a VM with mem_bytes of RAM: [0, min(mem, hole start)) and,
// when RAM does not fit below the 32-bit MMIO hole, the rest at 4 GiB.
std::vector<RamRange> ram_layout(uint64_t mem_bytes);

// End of the RAM range that starts at 0 (where the kernel, initrd and boot
// data must live).
uint64_t low_ram_end(uint64_t mem_bytes);

// The e820 map given to the guest: RAM [0, EBDA), reserved [EBDA, 1 MiB),
// RAM [1 MiB, end of low RAM), RAM above 4 GiB.
std::vector<MemoryMapEntry> memory_map(uint64_t mem_bytes);

}  // namespace amber::x86
