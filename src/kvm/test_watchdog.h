#pragma once
// A per-test time limit for the suites that run real guests (kvm_tests,
// vmm_kvm_tests): a guest that never exits, or a VMM that waits for an event
// that never comes, must fail the test run with the test's name instead of
// hanging it. test_watchdog_main.cpp installs it as a gtest listener.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace amber::kvm::test {

inline constexpr int kDefaultTestTimeoutS = 120;

// AMBER_TEST_TIMEOUT_S: unset or empty -> 120; a whole number of seconds;
// 0 turns the limit off. Anything else is nullopt (the caller reports it).
std::optional<int> parse_test_timeout(const char* env);

// One thread that waits for the armed deadline; past it, prints
// "[  TIMEOUT ] <name> ..." to stderr and aborts the process.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(std::string name);  // starts the clock for `name`
  void disarm();

 private:
  void loop();

  std::chrono::seconds limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string name_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace amber::kvm::test
