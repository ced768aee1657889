#include "amber/bus.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber {
namespace {

class Recorder : public Device {
 public:
  explicit Recorder(std::string n) : name_(std::move(n)) {}
  std::string_view name() const override { return name_; }
  void read(uint64_t off, std::span<uint8_t> d) noexcept override {
    last_read = off;
    for (auto& b : d) b = 0x5a;
  }
  void write(uint64_t off, std::span<const uint8_t> d) noexcept override {
    last_write = off;
    written.assign(d.begin(), d.end());
  }
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}
  uint64_t last_read = ~0ull, last_write = ~0ull;
  std::vector<uint8_t> written;

 private:
  std::string name_;
};

TEST(Bus, DispatchesWithOffset) {
  Bus bus("pio");
  Recorder a("a"), b("b");
  bus.insert(a, 0x3f8, 8);
  bus.insert(b, 0x70, 2);
  uint8_t v = 0;
  EXPECT_TRUE(bus.read(0x3fd, {&v, 1}));
  EXPECT_EQ(a.last_read, 5u);
  EXPECT_EQ(v, 0x5a);
  const uint8_t w[1] = {3};
  EXPECT_TRUE(bus.write(0x71, w));
  EXPECT_EQ(b.last_write, 1u);
}

TEST(Bus, UnclaimedReadsAllOnes) {
  Bus bus("pio");
  uint8_t v[2] = {0, 0};
  EXPECT_FALSE(bus.read(0x1234, v));
  EXPECT_EQ(v[0], 0xff);
  EXPECT_EQ(v[1], 0xff);
}

TEST(Bus, AccessStraddlingTheEndIsUnclaimed) {
  Bus bus("mmio");
  Recorder a("a");
  bus.insert(a, 0x1000, 0x10);
  uint8_t v[4];
  EXPECT_FALSE(bus.read(0x100e, v));
  EXPECT_TRUE(bus.read(0x100c, v));
}

TEST(Bus, OverlapsAreRejected) {
  Bus bus("pio");
  Recorder a("a"), b("b");
  bus.insert(a, 0x10, 0x10);
  EXPECT_THROW(bus.insert(b, 0x18, 4), Error);
  EXPECT_THROW(bus.insert(b, 0x08, 0x9), Error);
  EXPECT_THROW(bus.insert(b, 0x0, 0), Error);
  EXPECT_NO_THROW(bus.insert(b, 0x20, 4));
  EXPECT_NO_THROW(bus.insert(b, 0x08, 0x8));
}

}  // namespace
}  // namespace amber
