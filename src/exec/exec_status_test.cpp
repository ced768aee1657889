#include "exec/exec_status.h"

#include <gtest/gtest.h>

#include "legacy/debug_exit.h"

namespace amber::exec {
namespace {

TEST(ExecStatus, EveryCommandStatusSurvivesTheDebugExitPort) {
  // What amber-init writes (V) -> what the device reports -> V again, for
  // every status a command can have: 0..255 (128+N for signal N).
  for (uint32_t v = 0; v <= 255; ++v) {
    int guest_status = dev::DebugExit::exit_status(v);
    auto back = status_from_debug_exit(guest_status);
    ASSERT_TRUE(back.has_value()) << v;
    EXPECT_EQ(*back, int(v));
  }
  EXPECT_EQ(status_from_debug_exit(dev::DebugExit::exit_status(128 + 9)), 137);  // SIGKILL
}

TEST(ExecStatus, AnEvenOrOutOfRangeStatusIsNoReport) {
  EXPECT_EQ(status_from_debug_exit(0), std::nullopt);
  EXPECT_EQ(status_from_debug_exit(14), std::nullopt);
  EXPECT_EQ(status_from_debug_exit(-1), std::nullopt);
  EXPECT_EQ(status_from_debug_exit(0x201), std::nullopt);
  EXPECT_EQ(status_from_debug_exit(1), 0);
  EXPECT_EQ(status_from_debug_exit(0x1ff), 255);
}

TEST(ExecStatus, TheStatusFileIsADecimalByte) {
  EXPECT_EQ(status_from_file("0\n"), 0);
  EXPECT_EQ(status_from_file("7\n"), 7);
  EXPECT_EQ(status_from_file("137"), 137);
  EXPECT_EQ(status_from_file("255\n"), 255);
  EXPECT_EQ(status_from_file(""), std::nullopt);
  EXPECT_EQ(status_from_file("\n"), std::nullopt);
  EXPECT_EQ(status_from_file("256\n"), std::nullopt);
  EXPECT_EQ(status_from_file("-1\n"), std::nullopt);
  EXPECT_EQ(status_from_file("7\n\n"), std::nullopt);
  EXPECT_EQ(status_from_file("0007"), std::nullopt);
  EXPECT_EQ(status_from_file("x"), std::nullopt);
}

TEST(ExecStatus, AmberInitsOwnCodesAreTheShellsAndDockers) {
  EXPECT_EQ(kStatusNotFound, 127);
  EXPECT_EQ(kStatusNotExecutable, 126);
  EXPECT_EQ(kStatusSetupFailed, 125);
}

}  // namespace
}  // namespace amber::exec
