#include "virtio/rng.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "virtio/testing/mmio_driver.h"

namespace amber::virtio {
namespace {

using testing::FakeDriver;
using testing::MmioDriver;
using testing::RecordingIrq;
using testing::TestMemory;

// A fill that writes a running byte counter, so a test sees exactly which
// bytes the device produced and in what order.
uint8_t g_next = 1;
bool counting_fill(std::span<uint8_t> out) {
  for (auto& b : out) b = g_next++;
  return true;
}
bool failing_fill(std::span<uint8_t>) { return false; }

class RngTest : public ::testing::Test {
 protected:
  explicit RngTest(Rng::Fill fill = nullptr) {
    g_next = 1;
    transport = std::make_unique<MmioTransport>("rng", ram.mem(), irq, std::make_unique<Rng>(fill));
    regs = std::make_unique<MmioDriver>(*transport);
    EXPECT_TRUE(regs->start(kFeatureVersion1 | kFeatureIndirectDesc, driver));
  }
  // Publishes `c`, kicks queue 0 and returns the used length.
  uint32_t run(testing::ChainBuilder& c) {
    c.publish();
    regs->notify(0);
    auto u = driver.next_used();
    EXPECT_TRUE(u);
    return u ? u->len : UINT32_MAX;
  }

  TestMemory ram;
  FakeDriver driver{ram.mem(), 16};
  RecordingIrq irq;
  std::unique_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> regs;
};

class CountingRngTest : public RngTest {
 protected:
  CountingRngTest() : RngTest(&counting_fill) {}
};
class FailingRngTest : public RngTest {
 protected:
  FailingRngTest() : RngTest(&failing_fill) {}
};

TEST_F(RngTest, IsAnEntropyDeviceWithNoFeaturesOrConfig) {
  EXPECT_EQ(regs->read32(mmio::kDeviceId), 4u);
  EXPECT_EQ(regs->device_features() & ~(kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx), 0u);
  EXPECT_EQ(regs->read32(mmio::kConfig), 0u);
}

TEST_F(RngTest, HostBytesDifferFromRequestToRequest) {
  auto a = driver.chain().writable(64);
  ASSERT_EQ(run(a), 64u);
  auto b = driver.chain().writable(64);
  ASSERT_EQ(run(b), 64u);
  auto ba = driver.get(a.addr(0), 64), bb = driver.get(b.addr(0), 64);
  EXPECT_NE(ba, bb);
  // 64 zero bytes from getrandom would mean nothing was written (p = 2^-512).
  EXPECT_NE(ba, std::vector<uint8_t>(64, 0));
  EXPECT_GE(irq.triggers(), 2);
}

TEST_F(CountingRngTest, FillsEveryWritableBufferInOrderAndSkipsReadableOnes) {
  std::vector<uint8_t> junk(8, 0xee);
  auto c = driver.chain().readable(junk).writable(3).indirect().writable(5);
  EXPECT_EQ(run(c), 8u);
  EXPECT_EQ(driver.get(c.addr(0), 8), junk);  // untouched
  EXPECT_EQ(driver.get(c.addr(1), 3), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(driver.get(c.addr(2), 5), (std::vector<uint8_t>{4, 5, 6, 7, 8}));
}

TEST_F(CountingRngTest, CapsOneRequestAt64KiB) {
  auto c = driver.chain().writable(Rng::kMaxBytesPerRequest + 4096);
  EXPECT_EQ(run(c), Rng::kMaxBytesPerRequest);
  EXPECT_EQ(driver.get(c.addr(0) + Rng::kMaxBytesPerRequest, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_F(CountingRngTest, ABufferOutsideRamGetsNothingAndTheQueueKeepsWorking) {
  auto bad = driver.chain().at(ram.bytes().size() - 16, 64, true);  // runs off the end of RAM
  EXPECT_EQ(run(bad), 0u);
  auto part = driver.chain().writable(4).at(0xffff'ffff'ffff'f000ull, 4096, true);
  EXPECT_EQ(run(part), 4u);  // the good first buffer still counts
  auto good = driver.chain().writable(16);
  EXPECT_EQ(run(good), 16u);
  EXPECT_EQ(regs->read32(mmio::kStatus) & kStatusNeedsReset, 0u);
}

TEST_F(FailingRngTest, AFailingHostSourceReportsZeroBytes) {
  auto c = driver.chain().writable(32);
  EXPECT_EQ(run(c), 0u);
  EXPECT_EQ(driver.get(c.addr(0), 32), std::vector<uint8_t>(32, 0));
}

TEST(RngHostRandom, FillsLargeBuffers) {
  std::vector<uint8_t> buf(1 << 20, 0);
  ASSERT_TRUE(Rng::host_random(buf));
  // Every byte value shows up in 1 MiB of random bytes.
  std::vector<bool> seen(256);
  for (uint8_t b : buf) seen[b] = true;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 256);
}

}  // namespace
}  // namespace amber::virtio
