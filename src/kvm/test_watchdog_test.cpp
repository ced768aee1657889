#include "kvm/test_watchdog.h"

#include <gtest/gtest.h>

namespace amber::kvm::test {
namespace {

TEST(TestWatchdog, ParsesTheTimeout) {
  EXPECT_EQ(parse_test_timeout(nullptr), kDefaultTestTimeoutS);
  EXPECT_EQ(parse_test_timeout(""), kDefaultTestTimeoutS);
  EXPECT_EQ(parse_test_timeout("0"), 0);
  EXPECT_EQ(parse_test_timeout("300"), 300);
  EXPECT_EQ(parse_test_timeout("-1"), std::nullopt);
  EXPECT_EQ(parse_test_timeout("2m"), std::nullopt);
  EXPECT_EQ(parse_test_timeout("99999999"), std::nullopt);
}

TEST(TestWatchdog, DisarmedInTimeItStaysQuiet) {
  Watchdog dog(std::chrono::seconds(1));
  dog.arm("Quick.Test");
  dog.disarm();
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
}

TEST(TestWatchdogDeathTest, PastTheLimitItAbortsNamingTheTest) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Watchdog dog(std::chrono::seconds(1));
        dog.arm("Slow.Test");
        std::this_thread::sleep_for(std::chrono::seconds(5));
      },
      "TIMEOUT.*Slow\\.Test did not finish within 1 s");
}

}  // namespace
}  // namespace amber::kvm::test
