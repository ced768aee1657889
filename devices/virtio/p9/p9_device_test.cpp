// virtio-9p through the virtio-mmio transport and a split queue: the device
// ID, feature and tag config, T-messages gathered from readable buffers
// split anywhere, R-messages scattered over writable ones (as Linux's
// zero-copy reads lay them out), and hostile chains.
#include "virtio/p9/p9_device.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "virtio/p9/test_client.h"
#include "virtio/testing/mmio_driver.h"
#include "virtio/testing/temp_dir.h"

namespace amber::virtio {
namespace {

using p9::testing::Msg;
using testing::FakeDriver;
using testing::MmioDriver;
using testing::RecordingIrq;
using testing::TestMemory;

class P9DeviceTest : public ::testing::Test {
 protected:
  P9DeviceTest() {
    ::mkdir(tmp.file("share").c_str(), 0755);
    tmp.write("share/hello.txt", {'h', 'e', 'l', 'l', 'o', '-', '9', 'p'});
    auto dev = std::make_unique<P9Device>(p9::Server::open({tmp.file("share"), "mytag", false}), "mytag");
    device = dev.get();
    transport = std::make_unique<MmioTransport>("9p", ram.mem(), irq, std::move(dev));
    regs = std::make_unique<MmioDriver>(*transport);
    EXPECT_TRUE(regs->start(kFeatureVersion1 | kFeatureIndirectDesc | kP9FeatureMountTag, driver));
  }
  // Sends `msg` split into readable buffers of `split` bytes, with writable
  // buffers of the sizes in `out`; returns the reply as the driver sees it.
  std::vector<uint8_t> exchange(const std::vector<uint8_t>& msg, std::vector<uint32_t> out = {8192},
                                size_t split = SIZE_MAX) {
    auto c = driver.chain();
    size_t first_w = 0;
    for (size_t at = 0; at < msg.size(); at += std::min(split, msg.size() - at), ++first_w)
      c.readable(std::span<const uint8_t>(msg).subspan(at, std::min(split, msg.size() - at)));
    for (uint32_t len : out) c.writable(len);
    c.publish();
    regs->notify(0);
    auto u = driver.next_used();
    EXPECT_TRUE(u);
    std::vector<uint8_t> reply;
    if (!u) return reply;
    uint32_t left = u->len;
    for (size_t i = 0; i < out.size() && left > 0; ++i) {
      uint32_t n = std::min(left, out[i]);
      auto part = driver.get(c.addr(first_w + i), n);
      reply.insert(reply.end(), part.begin(), part.end());
      left -= n;
    }
    return reply;
  }
  static uint8_t type_of(const std::vector<uint8_t>& r) { return r.size() >= 7 ? r[4] : 0; }
  static uint32_t error_of(const std::vector<uint8_t>& r) {
    return type_of(r) == p9::kRlerror && r.size() >= 11 ? uint32_t(r[7]) | uint32_t(r[8]) << 8 : 0;
  }
  void session() {
    ASSERT_EQ(type_of(exchange(Msg(p9::kTversion, p9::kNoTag).u32(16384).str("9P2000.L").bytes())), p9::kRversion);
    ASSERT_EQ(type_of(exchange(Msg(p9::kTattach).u32(0).u32(p9::kNoFid).str("u").str("").u32(0).bytes())),
              p9::kRattach);
  }

  block::testing::TempDir tmp;
  TestMemory ram;
  FakeDriver driver{ram.mem(), 16};
  RecordingIrq irq;
  P9Device* device = nullptr;
  std::unique_ptr<MmioTransport> transport;
  std::unique_ptr<MmioDriver> regs;
};

TEST_F(P9DeviceTest, IsA9pDeviceWithTheMountTagInConfig) {
  EXPECT_EQ(regs->read32(mmio::kDeviceId), 9u);
  EXPECT_EQ(regs->read32(mmio::kDeviceFeatures) & 1u, 1u);  // VIRTIO_9P_MOUNT_TAG
  uint32_t w0 = regs->read32(mmio::kConfig), w1 = regs->read32(mmio::kConfig + 4);
  EXPECT_EQ(w0 & 0xffff, 5u);  // tag_len
  std::string tag = {char(w0 >> 16), char(w0 >> 24), char(w1), char(w1 >> 8), char(w1 >> 16)};
  EXPECT_EQ(tag, "mytag");
  EXPECT_EQ(regs->read32(mmio::kConfig + 64), 0u) << "past the tag reads as zero";
}

TEST_F(P9DeviceTest, ServesMessagesSplitAcrossBuffers) {
  session();
  auto w = exchange(Msg(p9::kTwalk, 5).u32(0).u32(1).u16(1).str("hello.txt").bytes(), {4096}, 3);
  ASSERT_EQ(type_of(w), p9::kRwalk);
  EXPECT_EQ(w[5], 5) << "the reply carries the request's tag";
  ASSERT_EQ(type_of(exchange(Msg(p9::kTlopen).u32(1).u32(0).bytes())), p9::kRlopen);
  // A zero-copy style read: an 11-byte header buffer, then the data pages.
  auto r = exchange(Msg(p9::kTread).u32(1).u64(0).u32(100).bytes(), {11, 4, 100});
  ASSERT_EQ(type_of(r), p9::kRread);
  ASSERT_EQ(r.size(), 11u + 8u);
  EXPECT_EQ(std::string(r.begin() + 11, r.end()), "hello-9p");
}

TEST_F(P9DeviceTest, WriteDataFromSeveralReadableBuffers) {
  session();
  exchange(Msg(p9::kTwalk).u32(0).u32(1).u16(0).bytes());
  auto cr = exchange(Msg(p9::kTlcreate).u32(1).str("w.txt").u32(2 | 0100).u32(0644).u32(0).bytes());
  ASSERT_EQ(type_of(cr), p9::kRlcreate);
  std::string data(3000, 'q');
  auto msg = Msg(p9::kTwrite).u32(1).u64(0).u32(3000).raw({data.begin(), data.end()}).bytes();
  auto r = exchange(msg, {64}, 1000);
  ASSERT_EQ(type_of(r), p9::kRwrite);
  auto bytes = block::testing::TempDir::read_all(tmp.file("share/w.txt"));
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), data);
}

TEST_F(P9DeviceTest, HostileChainsGetErrorsOrEmptyReplies) {
  session();
  // A readable buffer outside RAM: no reply, the queue goes on.
  driver.chain().at(1ull << 40, 64, false).writable(64).publish();
  regs->notify(0);
  auto u = driver.next_used();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->len, 0u);
  // A writable buffer too small for any reply.
  auto r = exchange(Msg(p9::kTstatfs).u32(0).bytes(), {4});
  EXPECT_TRUE(r.empty());
  // Readable bytes far beyond msize: at most msize + 1 are gathered, and the
  // message is refused.
  std::vector<uint8_t> huge(100000, 0);
  auto m = Msg(p9::kTwrite).u32(0).u64(0).u32(99000).bytes();
  std::copy(m.begin(), m.end(), huge.begin());
  for (int i = 0; i < 4; ++i) huge[size_t(i)] = uint8_t(huge.size() >> (8 * i));
  EXPECT_EQ(error_of(exchange(huge)), uint32_t(EMSGSIZE));
  // The queue still serves good requests.
  EXPECT_EQ(type_of(exchange(Msg(p9::kTclunk).u32(0).bytes())), p9::kRclunk);
}

TEST_F(P9DeviceTest, ResetDropsTheSessionAndSavingIsRefused) {
  session();
  EXPECT_EQ(device->server().fid_count(), 1u);
  regs->write32(mmio::kStatus, 0);
  EXPECT_EQ(device->server().fid_count(), 0u);
  EXPECT_EQ(device->server().msize(), 0u);
  EXPECT_THROW(transport->save(), Error);
}

}  // namespace
}  // namespace amber::virtio
