#include "firmware/memory_map.h"

#include <gtest/gtest.h>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_layout.h"

namespace amber::x86 {
namespace {

constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;

TEST(RamLayout, SmallRamIsOneRangeFromZero) {
  EXPECT_EQ(ram_layout(64 * kMiB), (std::vector<RamRange>{{0, 64 * kMiB}}));
  EXPECT_EQ(ram_layout(3 * kGiB), (std::vector<RamRange>{{0, 3 * kGiB}}));  // exactly up to the hole
}

TEST(RamLayout, FourGiBSplitsAtTheMmioHole) {
  auto r = ram_layout(4 * kGiB);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (RamRange{0, 3 * kGiB}));
  EXPECT_EQ(r[1], (RamRange{4 * kGiB, 1 * kGiB}));
  EXPECT_EQ(layout::kMmioHoleStart, 3 * kGiB);
  EXPECT_EQ(low_ram_end(4 * kGiB), 3 * kGiB);
  EXPECT_EQ(low_ram_end(100 * kMiB), 100 * kMiB);
}

TEST(RamLayout, RejectsBadSizes) {
  EXPECT_THROW(ram_layout(8 * kMiB), Error);
  EXPECT_THROW(ram_layout(16 * kMiB - kPageSize), Error);
  EXPECT_NO_THROW(ram_layout(16 * kMiB));
  EXPECT_THROW(ram_layout(64 * kMiB + 1), Error);
  EXPECT_NO_THROW(ram_layout(64 * kMiB + kPageSize));
  EXPECT_NO_THROW(ram_layout(1024 * kGiB));
  EXPECT_THROW(ram_layout(1024 * kGiB + kPageSize), Error);
  EXPECT_THROW(ram_layout(0), Error);
  EXPECT_THROW(ram_layout(~0ull), Error);
}

TEST(MemoryMap, LowRamOnly) {
  auto m = memory_map(64 * kMiB);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], (MemoryMapEntry{0, 0x9fc00, kE820Ram}));
  EXPECT_EQ(m[1], (MemoryMapEntry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved}));
  EXPECT_EQ(m[2], (MemoryMapEntry{0x100000, 64 * kMiB - 0x100000, kE820Ram}));
}

TEST(MemoryMap, RamAboveFourGiB) {
  auto m = memory_map(6 * kGiB);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[2], (MemoryMapEntry{0x100000, 3 * kGiB - 0x100000, kE820Ram}));
  EXPECT_EQ(m[3], (MemoryMapEntry{4 * kGiB, 3 * kGiB, kE820Ram}));
  // No entry may cover the MMIO hole.
  for (auto& e : m) EXPECT_FALSE(e.addr < layout::kMmioHoleEnd && e.addr + e.size > layout::kMmioHoleStart);
}

}  // namespace
}  // namespace amber::x86
