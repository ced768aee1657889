#include "snapshot/kernel_mappings.h"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace amber::image {
namespace {

constexpr uint64_t P = 1, PS = 0x80;

struct Ram {
  std::vector<uint8_t> b = std::vector<uint8_t>(8 << 20);
  PhysRead reader() {
    return [this](uint64_t gpa, void* out, size_t len) {
      if (gpa > b.size() || len > b.size() - gpa) return false;
      std::memcpy(out, b.data() + gpa, len);
      return true;
    };
  }
  void put(uint64_t gpa, uint64_t v) { std::memcpy(b.data() + gpa, &v, 8); }
};

TEST(KernelMappings, LinuxLikeTextAndDirectMapMergedIntoRuns) {
  Ram ram;
  // PML4 at 0x1000. Entry 511 -> PDPT 0x2000; its entry 510 -> PD 0x3000:
  // kernel text at 0xffffffff80000000 + 2 MiB pages 8, 9 -> physical 16 MiB, 18 MiB.
  ram.put(0x1000 + 511 * 8, 0x2000 | P);
  ram.put(0x2000 + 510 * 8, 0x3000 | P);
  ram.put(0x3000 + 8 * 8, (16ull << 20) | P | PS);
  ram.put(0x3000 + 9 * 8, (18ull << 20) | P | PS);
  // Entry 273 (0xffff888000000000, the direct map) -> PDPT 0x4000 with one 1 GiB page at 0.
  ram.put(0x1000 + 273 * 8, 0x4000 | P);
  ram.put(0x4000, 0 | P | PS);
  // A lower-half (user) entry is not the kernel's.
  ram.put(0x1000 + 1 * 8, 0x5000 | P);
  ram.put(0x5000, 0 | P | PS);
  auto runs = kernel_mappings(0x1000, false, ram.reader());
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (VirtualRun{0xffff888000000000ull, 0, 1ull << 30}));
  EXPECT_EQ(runs[1], (VirtualRun{0xffffffff81000000ull, 16ull << 20, 4ull << 20})) << "two 2 MiB pages, one run";
}

TEST(KernelMappings, FourKibPagesMergeOnlyWhenPhysicallyContiguous) {
  Ram ram;
  ram.put(0x1000 + 256 * 8, 0x2000 | P);
  ram.put(0x2000, 0x3000 | P);
  ram.put(0x3000, 0x4000 | P);
  ram.put(0x4000 + 0 * 8, 0x100000 | P);
  ram.put(0x4000 + 1 * 8, 0x101000 | P);
  ram.put(0x4000 + 2 * 8, 0x200000 | P);  // a physical jump
  ram.put(0x4000 + 4 * 8, 0x201000 | P);  // a virtual gap (entry 3 absent)
  auto runs = kernel_mappings(0x1000, false, ram.reader());
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0], (VirtualRun{0xffff800000000000ull, 0x100000, 0x2000}));
  EXPECT_EQ(runs[1], (VirtualRun{0xffff800000002000ull, 0x200000, 0x1000}));
  EXPECT_EQ(runs[2], (VirtualRun{0xffff800000004000ull, 0x201000, 0x1000}));
}

TEST(KernelMappings, FiveLevelUpperHalfStartsAt0xff00) {
  Ram ram;
  // PML5[256] -> PML4 0x2000 [0] -> PDPT 0x3000 [0] -> PD 0x4000 [0]: a 2 MiB page.
  ram.put(0x1000 + 256 * 8, 0x2000 | P);
  ram.put(0x2000, 0x3000 | P | PS);  // PS means nothing at the PML4 level: still a table
  ram.put(0x3000, 0x4000 | P);
  ram.put(0x4000, 0x400000 | P | PS);
  auto runs = kernel_mappings(0x1000, true, ram.reader());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (VirtualRun{0xff00000000000000ull, 0x400000, 2ull << 20}));
  // The same tables read as 4-level: PML4[256] is then a PDPT whose PS entry is a 1 GiB page.
  runs = kernel_mappings(0x1000, false, ram.reader());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (VirtualRun{0xffff800000000000ull, 0, 1ull << 30}));
}

TEST(KernelMappings, HostileTablesAreBounded) {
  Ram ram;
  // Every entry of the top table points back at itself: without a bound
  // the walk visits 256 * 512^3 entries.
  for (int i = 0; i < 512; ++i) ram.put(0x1000 + i * 8, 0x1000 | P);
  KernelMappingLimits lim{1000, 100};
  auto runs = kernel_mappings(0x1000, false, ram.reader(), lim);
  EXPECT_LE(runs.size(), 100u);
  // Tables outside RAM end their branch.
  Ram out;
  out.put(0x1000 + 300 * 8, 0x7fff000000ull | P);
  EXPECT_TRUE(kernel_mappings(0x1000, false, out.reader()).empty());
  EXPECT_TRUE(kernel_mappings(0xfff000000ull, false, out.reader()).empty()) << "CR3 outside RAM";
}

}  // namespace
}  // namespace amber::image
