#include "virtio/blk.h"

#include <gtest/gtest.h>

#include <cstring>

#include "virtio/testing/mem_disk.h"
#include "virtio/testing/mmio_driver.h"

namespace amber::virtio {
namespace {

using block::testing::MemDisk;
using testing::FakeDriver;
using testing::MmioDriver;
using testing::RecordingIrq;
using testing::TestMemory;

constexpr uint64_t kDiskSize = 64 * 1024;  // 128 sectors

std::vector<uint8_t> header(uint32_t type, uint64_t sector) {
  std::vector<uint8_t> h(16, 0);
  std::memcpy(h.data(), &type, 4);
  std::memcpy(h.data() + 8, &sector, 8);
  return h;
}

std::vector<uint8_t> segment(uint64_t sector, uint32_t n, uint32_t flags) {
  std::vector<uint8_t> s(16);
  std::memcpy(s.data(), &sector, 8);
  std::memcpy(s.data() + 8, &n, 4);
  std::memcpy(s.data() + 12, &flags, 4);
  return s;
}

class BlkTest : public ::testing::Test {
 protected:
  explicit BlkTest(bool read_only = false) {
    auto d = std::make_unique<MemDisk>(kDiskSize, read_only, "serial-0123456789abcdef");
    disk = d.get();
    for (size_t i = 0; i < disk->bytes.size(); ++i) disk->bytes[i] = uint8_t(i * 7 + 1);
    transport = std::make_unique<MmioTransport>("blk", ram.mem(), irq, std::make_unique<Blk>(std::move(d)));
    regs = std::make_unique<MmioDriver>(*transport);
    EXPECT_TRUE(regs->start(kFeatureVersion1 | kFeatureIndirectDesc, driver));
  }

  struct Result {
    uint8_t status;
    uint32_t len;
  };
  // Kicks the queue and returns the status byte at `status_addr` with the used length.
  Result run(testing::ChainBuilder& c, size_t status_index) {
    c.publish();
    regs->notify(0);
    auto u = driver.next_used();
    EXPECT_TRUE(u);
    if (!u) return {0xff, 0};
    return {driver.get(c.addr(status_index), 1)[0], u->len};
  }

  TestMemory ram;
  FakeDriver driver{ram.mem(), 16};
  RecordingIrq irq;
  MemDisk* disk;
  std::unique_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> regs;
};

class BlkReadOnlyTest : public BlkTest {
 protected:
  BlkReadOnlyTest() : BlkTest(true) {}
};

TEST_F(BlkTest, ConfigSpace) {
  auto* blk = static_cast<Blk*>(&transport->device());
  EXPECT_EQ(blk->config().capacity, kDiskSize / 512);
  EXPECT_EQ(blk->config().blk_size, 512u);
  EXPECT_EQ(blk->config().seg_max, Blk::kSegMax);
  EXPECT_EQ(blk->config().max_discard_seg, Blk::kMaxDiscardSeg);
  uint32_t blk_size = 0;
  transport->read(mmio::kConfig + 20, std::span(reinterpret_cast<uint8_t*>(&blk_size), 4));
  EXPECT_EQ(blk_size, 512u);
  uint64_t f = blk->features();
  EXPECT_TRUE(f & kBlkFeatureDiscard);
  EXPECT_TRUE(f & kBlkFeatureWriteZeroes);
  EXPECT_FALSE(f & kBlkFeatureRo);
}

TEST_F(BlkTest, ReadReturnsDiskBytes) {
  auto c = driver.chain().readable(header(kBlkTypeIn, 2)).writable(1024).writable(1);
  auto r = run(c, 2);
  EXPECT_EQ(r.status, kBlkStatusOk);
  EXPECT_EQ(r.len, 1025u);
  EXPECT_EQ(driver.get(c.addr(1), 1024), std::vector<uint8_t>(disk->bytes.begin() + 1024, disk->bytes.begin() + 2048));
}

TEST_F(BlkTest, ReadWithArbitraryFraming) {
  // Header split over two descriptors; data and status share one (§2.7.4).
  auto h = header(kBlkTypeIn, 1);
  auto c = driver.chain()
               .readable(std::span(h).first(5))
               .readable(std::span(h).subspan(5))
               .indirect()
               .writable(100)
               .writable(413);
  c.publish();
  regs->notify(0);
  auto u = driver.next_used();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->len, 513u);
  EXPECT_EQ(driver.get(c.addr(3), 412)[411], disk->bytes[512 + 511]);
  EXPECT_EQ(driver.get(c.addr(3) + 412, 1)[0], kBlkStatusOk);
}

TEST_F(BlkTest, WriteStoresBytes) {
  std::vector<uint8_t> data(512, 0x5a);
  auto c = driver.chain().readable(header(kBlkTypeOut, 127)).readable(data).writable(1);
  auto r = run(c, 2);
  EXPECT_EQ(r.status, kBlkStatusOk);
  EXPECT_EQ(r.len, 1u);
  EXPECT_EQ(std::vector<uint8_t>(disk->bytes.end() - 512, disk->bytes.end()), data);
}

TEST_F(BlkTest, FlushCallsBackend) {
  auto c = driver.chain().readable(header(kBlkTypeFlush, 0)).writable(1);
  EXPECT_EQ(run(c, 1).status, kBlkStatusOk);
  EXPECT_EQ(disk->flushes, 1);
  disk->fail = true;
  auto c2 = driver.chain().readable(header(kBlkTypeFlush, 0)).writable(1);
  EXPECT_EQ(run(c2, 1).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, GetIdReturnsTwentyBytes) {
  auto c = driver.chain().readable(header(kBlkTypeGetId, 0)).writable(20).writable(1);
  auto r = run(c, 2);
  EXPECT_EQ(r.status, kBlkStatusOk);
  EXPECT_EQ(r.len, 21u);
  auto id = driver.get(c.addr(1), 20);
  EXPECT_EQ(std::string(id.begin(), id.end()), "serial-0123456789abc");
}

TEST_F(BlkTest, GetIdShortBufferIsError) {
  auto c = driver.chain().readable(header(kBlkTypeGetId, 0)).writable(10).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, DiscardAndWriteZeroes) {
  auto c = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(8, 16, 0)).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusOk);
  ASSERT_EQ(disk->discards.size(), 1u);
  EXPECT_EQ(disk->discards[0], (block::Extent{8 * 512, 16 * 512}));

  auto segs = segment(0, 1, kBlkDiscardUnmap);
  auto s2 = segment(4, 2, 0);
  segs.insert(segs.end(), s2.begin(), s2.end());
  auto z = driver.chain().readable(header(kBlkTypeWriteZeroes, 0)).readable(segs).writable(1);
  EXPECT_EQ(run(z, 2).status, kBlkStatusOk);
  ASSERT_EQ(disk->zeroes.size(), 2u);
  EXPECT_EQ(disk->zeroes[1], (block::Extent{4 * 512, 2 * 512}));
  EXPECT_EQ(disk->bytes[4 * 512], 0);
}

TEST_F(BlkTest, DiscardErrors) {
  // unmap on a discard, and unknown flags, are UNSUPP (§5.2.6.2).
  auto a = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(0, 1, kBlkDiscardUnmap)).writable(1);
  EXPECT_EQ(run(a, 2).status, kBlkStatusUnsupp);
  auto b = driver.chain().readable(header(kBlkTypeWriteZeroes, 0)).readable(segment(0, 1, 2)).writable(1);
  EXPECT_EQ(run(b, 2).status, kBlkStatusUnsupp);
  // Out of range, overflowing, and malformed segment lists are IOERR.
  auto c = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(127, 2, 0)).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
  auto d = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(~0ull, 1, 0)).writable(1);
  EXPECT_EQ(run(d, 2).status, kBlkStatusIoErr);
  auto e = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(10).writable(1);
  EXPECT_EQ(run(e, 2).status, kBlkStatusIoErr);
  auto f = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(16 * (Blk::kMaxDiscardSeg + 1)).writable(1);
  EXPECT_EQ(run(f, 2).status, kBlkStatusIoErr);
  EXPECT_TRUE(disk->discards.empty());
}

TEST_F(BlkTest, UnknownTypeIsUnsupported) {
  auto c = driver.chain().readable(header(99, 0)).writable(1);
  auto r = run(c, 1);
  EXPECT_EQ(r.status, kBlkStatusUnsupp);
  EXPECT_EQ(r.len, 1u);
}

TEST_F(BlkTest, OutOfRangeSectorsAreIoErr) {
  auto a = driver.chain().readable(header(kBlkTypeIn, 127)).writable(1024).writable(1);
  EXPECT_EQ(run(a, 2).status, kBlkStatusIoErr);
  auto b = driver.chain().readable(header(kBlkTypeIn, ~0ull)).writable(512).writable(1);
  auto r = run(b, 2);
  EXPECT_EQ(r.status, kBlkStatusIoErr);
  EXPECT_EQ(r.len, 1u);
  auto c = driver.chain().readable(header(kBlkTypeOut, 128)).readable(512).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
  EXPECT_EQ(disk->writes, 0);
}

TEST_F(BlkTest, PartialSectorIsIoErr) {
  auto c = driver.chain().readable(header(kBlkTypeIn, 0)).writable(100).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, ShortHeaderIsIoErr) {
  auto c = driver.chain().readable(8).writable(1);
  EXPECT_EQ(run(c, 1).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, WrongDataDirectionIsIoErr) {
  auto a = driver.chain().readable(header(kBlkTypeIn, 0)).readable(512).writable(1);
  EXPECT_EQ(run(a, 2).status, kBlkStatusIoErr);
  auto b = driver.chain().readable(header(kBlkTypeOut, 0)).writable(512).writable(1);
  EXPECT_EQ(run(b, 2).status, kBlkStatusIoErr);
  EXPECT_EQ(disk->writes, 0);
}

TEST_F(BlkTest, DataBufferOutsideRamIsIoErr) {
  auto c = driver.chain().readable(header(kBlkTypeIn, 0)).at(1ull << 30, 512, true).writable(1);
  auto r = run(c, 2);
  EXPECT_EQ(r.status, kBlkStatusIoErr);
  EXPECT_EQ(r.len, 1u);
}

TEST_F(BlkTest, BackendFailureIsIoErr) {
  disk->fail = true;
  auto c = driver.chain().readable(header(kBlkTypeIn, 0)).writable(512).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, StatusNotWritableNeedsReset) {
  driver.chain().readable(header(kBlkTypeIn, 0)).readable(1).publish();
  regs->notify(0);
  EXPECT_FALSE(driver.next_used());
  EXPECT_TRUE(regs->read32(mmio::kStatus) & kStatusNeedsReset);
}

TEST_F(BlkTest, StatusOutsideRamNeedsReset) {
  driver.chain().readable(header(kBlkTypeIn, 0)).at(1ull << 30, 1, true).publish();
  regs->notify(0);
  EXPECT_TRUE(regs->read32(mmio::kStatus) & kStatusNeedsReset);
  // Further notifies are ignored until reset.
  driver.chain().readable(header(kBlkTypeFlush, 0)).writable(1).publish();
  regs->notify(0);
  EXPECT_FALSE(driver.next_used());
}

TEST_F(BlkTest, HugeLengthsDoNotCrash) {
  auto c = driver.chain().readable(header(kBlkTypeIn, 0)).at(0, 0xffffffff, true).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
}

TEST_F(BlkTest, SeveralRequestsInOneNotify) {
  auto a = driver.chain().readable(header(kBlkTypeIn, 0)).writable(512).writable(1);
  a.publish();
  auto b = driver.chain().readable(header(kBlkTypeFlush, 0)).writable(1);
  b.publish();
  regs->notify(0);
  EXPECT_TRUE(driver.next_used());
  EXPECT_TRUE(driver.next_used());
  EXPECT_EQ(irq.triggers(), 1);
}

TEST_F(BlkReadOnlyTest, WritesAndDiscardsFail) {
  auto* blk = static_cast<Blk*>(&transport->device());
  EXPECT_TRUE(blk->features() & kBlkFeatureRo);
  EXPECT_FALSE(blk->features() & kBlkFeatureDiscard);
  auto before = disk->bytes;
  auto a = driver.chain().readable(header(kBlkTypeOut, 0)).readable(512).writable(1);
  EXPECT_EQ(run(a, 2).status, kBlkStatusIoErr);
  auto b = driver.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(0, 1, 0)).writable(1);
  EXPECT_EQ(run(b, 2).status, kBlkStatusIoErr);
  auto c = driver.chain().readable(header(kBlkTypeWriteZeroes, 0)).readable(segment(0, 1, 0)).writable(1);
  EXPECT_EQ(run(c, 2).status, kBlkStatusIoErr);
  EXPECT_EQ(disk->bytes, before);
  auto d = driver.chain().readable(header(kBlkTypeIn, 0)).writable(512).writable(1);
  EXPECT_EQ(run(d, 2).status, kBlkStatusOk);
}

TEST(BlkState, RoundTripAndMismatch) {
  Blk a(std::make_unique<MemDisk>(kDiskSize));
  StateNode n = a.save();
  Blk b(std::make_unique<MemDisk>(kDiskSize));
  EXPECT_NO_THROW(b.restore(n));
  EXPECT_EQ(b.save(), n);
  Blk bigger(std::make_unique<MemDisk>(2 * kDiskSize));
  EXPECT_NE(bigger.save(), n);
  EXPECT_THROW(bigger.restore(n), Error);
  StateNode bad = n;
  bad.props["capacity"] = {1, 2};
  EXPECT_THROW(b.restore(bad), Error);
}

}  // namespace
}  // namespace amber::virtio
