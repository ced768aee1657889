#include "gdb/page_walk.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace amber::gdb {
namespace {

// 16 MiB of "guest RAM" and a reader over it.
struct Ram {
  std::vector<uint8_t> b = std::vector<uint8_t>(16 << 20);
  PhysReader reader() {
    return [this](uint64_t gpa, void* out, size_t len) {
      if (gpa > b.size() || len > b.size() - gpa) return false;
      std::memcpy(out, b.data() + gpa, len);
      return true;
    };
  }
  void put64(uint64_t gpa, uint64_t v) { std::memcpy(b.data() + gpa, &v, 8); }
  void put32(uint64_t gpa, uint32_t v) { std::memcpy(b.data() + gpa, &v, 4); }
};

constexpr uint64_t P = 1, RW = 2, PS = 0x80;

hv::DebugRegs long_mode(uint64_t cr3, bool la57 = false) {
  hv::DebugRegs r;
  r.cr0 = 0x80000011;
  r.cr4 = 0x20 | (la57 ? 0x1000 : 0);
  r.efer = 0x500;
  r.cr3 = cr3;
  return r;
}

TEST(PageWalk, PagingOffIsIdentity) {
  Ram ram;
  hv::DebugRegs r;
  EXPECT_EQ(translate(r, 0x123456, ram.reader()), 0x123456u);
}

TEST(PageWalk, FourLevelsWith4KiB2MiBAnd1GiBPages) {
  Ram ram;
  // A kernel-style address: PML4 511, PDPT 510, PD 1, PT 2.
  uint64_t va = 0xffffffff80000000ull | (1ull << 21) | (2ull << 12) | 0x345;
  ram.put64(0x1000 + 511 * 8, 0x2000 | P | RW);
  ram.put64(0x2000 + 510 * 8, 0x3000 | P);
  ram.put64(0x3000 + 1 * 8, 0x4000 | P);
  ram.put64(0x4000 + 2 * 8, 0xabc000 | P | (1ull << 63));  // NX bit is not address
  EXPECT_EQ(translate(long_mode(0x1000), va, ram.reader()), 0xabc345u);
  // The same PD entry as a 2 MiB page.
  ram.put64(0x3000 + 1 * 8, 0x600000 | P | PS);
  EXPECT_EQ(translate(long_mode(0x1000), va, ram.reader()), 0x600000u + (2u << 12) + 0x345);
  // PDPT entry 0 of PML4 0 as a 1 GiB page at 0.
  ram.put64(0x1000, 0x5000 | P);
  ram.put64(0x5000, 0 | P | PS);
  EXPECT_EQ(translate(long_mode(0x1000), 0x3456789, ram.reader()), 0x3456789u);
}

TEST(PageWalk, NotPresentOrOutsideRamIsNoTranslation) {
  Ram ram;
  EXPECT_FALSE(translate(long_mode(0x1000), 0x1000, ram.reader())) << "empty PML4";
  ram.put64(0x1000, 0x2000 | P);
  ram.put64(0x2000, 0x7ff000000ull | P);  // a PD far outside RAM
  EXPECT_FALSE(translate(long_mode(0x1000), 0x1000, ram.reader()));
  EXPECT_FALSE(translate(long_mode(0xfffffffff000ull), 0, ram.reader())) << "CR3 outside RAM";
}

TEST(PageWalk, FiveLevelsWithLa57) {
  Ram ram;
  uint64_t va = (1ull << 48) | 0x777;  // PML5 index 1
  ram.put64(0x1000 + 8, 0x2000 | P);
  ram.put64(0x2000, 0x3000 | P);
  ram.put64(0x3000, 0x4000 | P);
  ram.put64(0x4000, 0x5000 | P);
  ram.put64(0x5000, 0x9000 | P);
  EXPECT_EQ(translate(long_mode(0x1000, true), va, ram.reader()), 0x9777u);
}

TEST(PageWalk, PaeAndTwoLevel32Bit) {
  Ram ram;
  hv::DebugRegs pae;
  pae.cr0 = 0x80000011;
  pae.cr4 = 0x20;
  pae.cr3 = 0x1020;  // 32-byte aligned PDPT
  ram.put64(0x1020 + 3 * 8, 0x2000 | P);  // 0xc0000000..
  ram.put64(0x2000 + 2 * 8, 0x3000 | P);
  ram.put64(0x3000 + 5 * 8, 0x88000 | P);
  EXPECT_EQ(translate(pae, 0xc0405123, ram.reader()), 0x88123u);

  hv::DebugRegs flat;
  flat.cr0 = 0x80000011;
  flat.cr3 = 0x4000;
  ram.put32(0x4000 + 0x300 * 4, 0x5000 | P);  // 0xc0000000
  ram.put32(0x5000 + 7 * 4, 0x99000 | P);
  EXPECT_EQ(translate(flat, 0xc0007abc, ram.reader()), 0x99abcu);
  ram.put32(0x4000 + 0x301 * 4, 0x800000 | P | PS);  // a 4 MiB page
  EXPECT_FALSE(translate(flat, 0xc0400010, ram.reader())) << "PS without CR4.PSE is a table pointer";
  flat.cr4 = 0x10;
  EXPECT_EQ(translate(flat, 0xc0400010, ram.reader()), 0x800010u);
}

}  // namespace
}  // namespace amber::gdb
