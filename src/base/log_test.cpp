#include "amber/log.h"

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace amber::log {
namespace {

TEST(RateLimit, ReportsHowManyWereDroppedSinceTheLastAllowed) {
  RateLimit limit(20.0, 1.0);  // one token, back after 50 ms
  uint64_t dropped = 99;
  ASSERT_TRUE(limit.allow(&dropped));
  EXPECT_EQ(dropped, 0u);
  EXPECT_FALSE(limit.allow());
  EXPECT_FALSE(limit.allow());
  EXPECT_FALSE(limit.allow());
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  ASSERT_TRUE(limit.allow(&dropped));
  EXPECT_EQ(dropped, 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  ASSERT_TRUE(limit.allow(&dropped));
  EXPECT_EQ(dropped, 0u);  // the count restarts after each allowed message
}

TEST(GuestWarn, TheNextPrintedWarningSaysHowManyWereSuppressed) {
  RateLimit limit(20.0, 1.0);
  testing::internal::CaptureStderr();
  guest_warn(limit, "bad write {}", 1);
  guest_warn(limit, "bad write {}", 2);
  guest_warn(limit, "bad write {}", 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  guest_warn(limit, "bad write {}", 4);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "amber: warning: bad write 1\r\n"
            "amber: warning: bad write 4 (2 more suppressed)\r\n");
}

}  // namespace
}  // namespace amber::log
