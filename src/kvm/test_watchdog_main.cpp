// main() for the suites that run real guests: gtest plus a per-test time
// limit (kvm/test_watchdog.h), AMBER_TEST_TIMEOUT_S seconds (default 120,
// 0 = none), so that no test can hang the run.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <gtest/gtest.h>

#include "kvm/test_watchdog.h"

namespace {

class WatchdogListener : public testing::EmptyTestEventListener {
 public:
  explicit WatchdogListener(std::chrono::seconds limit) : dog_(limit) {}
  void OnTestStart(const testing::TestInfo& t) override {
    dog_.arm(std::string(t.test_suite_name()) + "." + t.name());
  }
  void OnTestEnd(const testing::TestInfo&) override { dog_.disarm(); }

 private:
  amber::kvm::test::Watchdog dog_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const char* env = std::getenv("AMBER_TEST_TIMEOUT_S");
  auto limit = amber::kvm::test::parse_test_timeout(env);
  if (!limit) {
    std::fprintf(stderr, "AMBER_TEST_TIMEOUT_S=%s: expected a whole number of seconds (0 = no limit)\n", env);
    return 2;
  }
  if (*limit > 0)
    testing::UnitTest::GetInstance()->listeners().Append(new WatchdogListener(std::chrono::seconds(*limit)));
  return RUN_ALL_TESTS();
}
