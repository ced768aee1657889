#include "snapshot/kernel_mappings.h"

#include <array>

namespace amber::image {
namespace {

constexpr uint64_t kPresent = 1, kLarge = 1ull << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;  // bits 51:12

struct Walker {
  const PhysRead& read;
  const KernelMappingLimits& limits;
  std::vector<VirtualRun> runs;
  size_t tables = 0;
  bool full = false;

  void add(uint64_t v, uint64_t p, uint64_t size) {
    if (!runs.empty()) {
      auto& last = runs.back();
      if (last.vaddr + last.size == v && last.paddr + last.size == p) {
        last.size += size;
        return;
      }
    }
    if (runs.size() >= limits.max_runs) {
      full = true;
      return;
    }
    runs.push_back({v, p, size});
  }

  // Table at `table` mapping from `base`, each entry covering 2^shift bytes.
  void walk(uint64_t table, uint64_t base, int shift, size_t first, size_t last) {
    if (full || ++tables > limits.max_tables) {
      full = true;
      return;
    }
    std::array<uint64_t, 512> e{};
    if (!read(table, e.data(), sizeof e)) return;
    for (size_t i = first; i <= last && !full; ++i) {
      if (!(e[i] & kPresent)) continue;
      uint64_t v = base + (uint64_t(i) << shift);
      if (shift == 12 || ((shift == 21 || shift == 30) && (e[i] & kLarge))) {
        uint64_t size = 1ull << shift;
        add(v, e[i] & kAddrMask & ~(size - 1), size);
      } else if (shift > 12) {
        walk(e[i] & kAddrMask, v, shift - 9, 0, 511);
      }
    }
  }
};

}  // namespace

std::vector<VirtualRun> kernel_mappings(uint64_t cr3, bool la57, const PhysRead& read,
                                        const KernelMappingLimits& limits) {
  Walker w{read, limits, {}, 0, false};
  int top = la57 ? 48 : 39;
  // The upper half: top-level entries 256..511; with the sign extension,
  // entry i maps from (~0 << (top + 9)) + (i << top), e.g. 0xffff800000000000
  // for entry 256 of a 4-level table.
  w.walk(cr3 & kAddrMask, ~0ull << (top + 9), top, 256, 511);
  return w.runs;
}

}  // namespace amber::image
