#include "snapshot/zero_scan.h"

#include <gtest/gtest.h>

#include "amber/mapping.h"

namespace amber::image {
namespace {

TEST(ZeroScan, IsZeroSeesEveryByte) {
  std::vector<uint8_t> page(4096 + 3, 0);
  EXPECT_TRUE(is_zero(page.data(), page.size()));
  for (size_t i = 0; i < page.size(); ++i) {
    page[i] = 1;
    EXPECT_FALSE(is_zero(page.data(), page.size())) << i;
    page[i] = 0;
  }
  EXPECT_TRUE(is_zero(page.data() + 1, 4095));  // unaligned start
}

std::vector<std::pair<uint64_t, uint64_t>> runs(const Mapping& m, const std::vector<uint8_t>& pop = {}) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for_each_nonzero_run(m.data(), m.size(), pop, [&](uint64_t o, uint64_t l) { out.emplace_back(o, l); });
  return out;
}

TEST(ZeroScan, RunsCoalescePages) {
  Mapping m = Mapping::anonymous(16 * 4096);
  EXPECT_TRUE(runs(m).empty());
  m.data()[0] = 1;
  m.data()[4096 + 4095] = 1;
  m.data()[5 * 4096 + 17] = 1;
  m.data()[15 * 4096] = 1;
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(runs(m), (R{{0, 8192}, {5 * 4096, 4096}, {15 * 4096, 4096}}));
}

TEST(ZeroScan, PagemapTracksPopulatedPages) {
  Mapping m = Mapping::anonymous(8 * 4096);
  auto before = populated_pages(m.data(), 8);
  if (before.empty()) GTEST_SKIP() << "/proc/self/pagemap not readable";
  EXPECT_EQ(before, std::vector<uint8_t>(8, 0));
  m.data()[3 * 4096] = 9;
  auto after = populated_pages(m.data(), 8);
  EXPECT_EQ(after[3], 1);
  EXPECT_EQ(after[2], 0);
  // Unpopulated pages are not read at all: a populated-only scan finds page 3.
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(runs(m, after), (R{{3 * 4096, 4096}}));
}

}  // namespace
}  // namespace amber::image
