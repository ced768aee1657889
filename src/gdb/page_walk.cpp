#include "gdb/page_walk.h"

namespace amber::gdb {
namespace {

constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pse = 1ull << 4;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint64_t kPresent = 1;
constexpr uint64_t kPageSize = 1ull << 7;       // PS: this entry maps a large page
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;  // bits 51:12 (MAXPHYADDR <= 52)

std::optional<uint64_t> read_entry(const PhysReader& read, uint64_t gpa, size_t size) {
  uint64_t e = 0;
  if (!read(gpa, &e, size)) return std::nullopt;
  return e;
}

// 4-level (or 5-level with LA57) and PAE walks share the 8-byte entry
// format; `levels` tables below the top, index bits from `top_shift` down.
std::optional<uint64_t> walk64(uint64_t table, uint64_t vaddr, int top_shift, int levels, const PhysReader& read) {
  for (int level = 0; level < levels; ++level) {
    int shift = top_shift - 9 * level;
    uint64_t index = (vaddr >> shift) & 0x1ff;
    auto e = read_entry(read, table + index * 8, 8);
    if (!e || !(*e & kPresent)) return std::nullopt;
    // PS at the 1 GiB (shift 30) and 2 MiB (shift 21) levels maps the rest.
    if ((shift == 30 || shift == 21) && (*e & kPageSize)) {
      uint64_t page = (1ull << shift) - 1;
      return (*e & kAddrMask & ~page) | (vaddr & page);
    }
    table = *e & kAddrMask;
  }
  return table | (vaddr & 0xfff);
}

}  // namespace

std::optional<uint64_t> translate(const hv::DebugRegs& r, uint64_t vaddr, const PhysReader& read) {
  if (!(r.cr0 & kCr0Pg)) return vaddr;
  if (r.efer & kEferLma) {
    bool la57 = r.cr4 & kCr4La57;
    return walk64(r.cr3 & kAddrMask, vaddr, la57 ? 48 : 39, la57 ? 5 : 4, read);
  }
  uint32_t va = uint32_t(vaddr);
  if (r.cr4 & kCr4Pae) {
    // CR3 holds the 32-byte-aligned PDPT; its four entries cover 1 GiB each.
    auto pdpte = read_entry(read, (r.cr3 & 0xffffffe0u) + ((va >> 30) & 3) * 8, 8);
    if (!pdpte || !(*pdpte & kPresent)) return std::nullopt;
    return walk64(*pdpte & kAddrMask, va, 21, 2, read);
  }
  // 32-bit paging: 4-byte entries, 4 MiB pages with CR4.PSE.
  auto pde = read_entry(read, (r.cr3 & 0xfffff000u) + ((va >> 22) & 0x3ff) * 4, 4);
  if (!pde || !(*pde & kPresent)) return std::nullopt;
  if ((r.cr4 & kCr4Pse) && (*pde & kPageSize)) return (*pde & 0xffc00000u) | (va & 0x3fffff);
  auto pte = read_entry(read, (*pde & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4, 4);
  if (!pte || !(*pte & kPresent)) return std::nullopt;
  return (*pte & 0xfffff000u) | (va & 0xfff);
}

}  // namespace amber::gdb
