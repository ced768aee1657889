#include "legacy/debug_exit.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber::dev {
namespace {

TEST(DebugExit, AWriteOfVEndsWithStatusVShiftedLeftOrOne) {
  std::vector<int> got;
  DebugExit d([&](int s) { got.push_back(s); });
  const uint8_t zero[1] = {0};
  d.write(0, zero);
  const uint8_t one[1] = {1};
  d.write(0, one);
  const uint8_t word[4] = {0x10, 0, 0, 0};  // 32-bit write, as `out %eax, $0xf4`
  d.write(0, word);
  const uint8_t half[2] = {0x21, 0};
  d.write(2, half);  // anywhere in the window
  EXPECT_EQ(got, (std::vector<int>{1, 3, 0x21, 0x43}));
}

TEST(DebugExit, TheStatusKeepsTheWrittenByteWhoseLowBitsAreQemus) {
  EXPECT_EQ(DebugExit::exit_status(0x7f), 0xff);
  EXPECT_EQ(DebugExit::exit_status(0x80), 0x101);  // its low 8 bits: QEMU's 1
  EXPECT_EQ(DebugExit::exit_status(0x80) & 0xff, 1);
  EXPECT_EQ(DebugExit::exit_status(0xff), 0x1ff);
  EXPECT_EQ(DebugExit::exit_status(0xffffffff), 0x1ff);
  EXPECT_EQ(DebugExit::exit_status(0x1234), 0x69);  // only the low byte counts
}

TEST(DebugExit, ReadsAreZeroAndTheDeviceIsStateless) {
  DebugExit d(nullptr);
  uint8_t b[4] = {1, 2, 3, 4};
  d.read(0, b);
  for (uint8_t x : b) EXPECT_EQ(x, 0);
  const uint8_t w[1] = {5};
  d.write(0, w);  // no callback: ignored
  EXPECT_EQ(d.save(), StateNode{});
  EXPECT_EQ(d.name(), "debug-exit");
}

}  // namespace
}  // namespace amber::dev
