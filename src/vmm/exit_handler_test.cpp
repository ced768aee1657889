#include "vmm/exit_handler.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber::vmm {
namespace {

// Records every access; reads return a per-access incrementing byte.
class Probe : public Device {
 public:
  std::string_view name() const override { return "probe"; }
  void read(uint64_t off, std::span<uint8_t> d) noexcept override {
    reads.push_back(off);
    for (auto& b : d) b = next++;
  }
  void write(uint64_t off, std::span<const uint8_t> d) noexcept override {
    writes.push_back({off, std::vector<uint8_t>(d.begin(), d.end())});
  }
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}
  std::vector<uint64_t> reads;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> writes;
  uint8_t next = 1;
};

struct Fixture : ::testing::Test {
  Bus pio{"pio"}, mmio{"mmio"};
  Probe port_dev, mmio_dev;
  void SetUp() override {
    pio.insert(port_dev, 0x3f8, 8);
    mmio.insert(mmio_dev, 0xd0000000, 0x1000);
  }
};

TEST_F(Fixture, OutReachesDeviceAtOffset) {
  uint8_t data[1] = {'A'};
  auto r = handle_exit(hv::IoOut{0x3f8, 1, 1, data}, pio, mmio);
  EXPECT_EQ(r.action, ExitAction::kContinue);
  ASSERT_EQ(port_dev.writes.size(), 1u);
  EXPECT_EQ(port_dev.writes[0].first, 0u);
  EXPECT_EQ(port_dev.writes[0].second, std::vector<uint8_t>{'A'});
}

TEST_F(Fixture, RepOutsIsOneAccessPerElement) {
  uint8_t data[6] = {1, 2, 3, 4, 5, 6};
  handle_exit(hv::IoOut{0x3f9, 2, 3, data}, pio, mmio);
  ASSERT_EQ(port_dev.writes.size(), 3u);
  EXPECT_EQ(port_dev.writes[2].second, (std::vector<uint8_t>{5, 6}));
  EXPECT_EQ(port_dev.writes[2].first, 1u);
}

TEST_F(Fixture, RepInsFillsEveryElement) {
  uint8_t data[4] = {};
  handle_exit(hv::IoIn{0x3f8, 1, 4, data}, pio, mmio);
  EXPECT_EQ(port_dev.reads.size(), 4u);
  EXPECT_EQ(data[0], 1);
  EXPECT_EQ(data[3], 4);
}

TEST_F(Fixture, InFromNowhereReadsAllOnes) {
  uint8_t data[2] = {};
  EXPECT_EQ(handle_exit(hv::IoIn{0x1234, 2, 1, data}, pio, mmio).action, ExitAction::kContinue);
  EXPECT_EQ(data[0], 0xff);
  EXPECT_EQ(data[1], 0xff);
}

TEST_F(Fixture, MalformedIoIsAnErrorNotACrash) {
  uint8_t data[3] = {};
  EXPECT_EQ(handle_exit(hv::IoIn{0x3f8, 3, 1, data}, pio, mmio).action, ExitAction::kError);
  EXPECT_EQ(handle_exit(hv::IoOut{0x3f8, 2, 2, std::span<const uint8_t>(data, 3)}, pio, mmio).action, ExitAction::kError);
  EXPECT_TRUE(port_dev.reads.empty());
}

TEST_F(Fixture, MmioDispatch) {
  uint8_t out[4] = {};
  handle_exit(hv::MmioRead{0xd0000100, out}, pio, mmio);
  EXPECT_EQ(mmio_dev.reads.at(0), 0x100u);
  const uint8_t w[4] = {9, 9, 9, 9};
  handle_exit(hv::MmioWrite{0xd0000050, w}, pio, mmio);
  EXPECT_EQ(mmio_dev.writes.at(0).first, 0x50u);
}

TEST_F(Fixture, ClassifiesTheRest) {
  EXPECT_EQ(handle_exit(hv::Halt{}, pio, mmio).action, ExitAction::kHalted);
  EXPECT_EQ(handle_exit(hv::Shutdown{}, pio, mmio).action, ExitAction::kShutdown);
  EXPECT_EQ(handle_exit(hv::SystemReset{}, pio, mmio).action, ExitAction::kReset);
  EXPECT_EQ(handle_exit(hv::Interrupted{}, pio, mmio).action, ExitAction::kInterrupted);
  auto r = handle_exit(hv::InternalError{"emulation failure"}, pio, mmio);
  EXPECT_EQ(r.action, ExitAction::kError);
  EXPECT_EQ(r.error, "emulation failure");
}

}  // namespace
}  // namespace amber::vmm
