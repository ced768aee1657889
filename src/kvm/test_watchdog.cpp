#include "kvm/test_watchdog.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace amber::kvm::test {

std::optional<int> parse_test_timeout(const char* env) {
  if (!env || !*env) return kDefaultTestTimeoutS;
  if (std::strlen(env) > 7) return std::nullopt;
  int v = 0;
  for (const char* p = env; *p; ++p) {
    if (*p < '0' || *p > '9') return std::nullopt;
    v = v * 10 + (*p - '0');
  }
  return v;
}

Watchdog::Watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lk(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(std::string name) {
  {
    std::lock_guard lk(mu_);
    name_ = std::move(name);
    deadline_ = std::chrono::steady_clock::now() + limit_;
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  {
    std::lock_guard lk(mu_);
    deadline_.reset();
  }
  cv_.notify_all();
}

void Watchdog::loop() {
  std::unique_lock lk(mu_);
  while (!quit_) {
    if (!deadline_) {
      cv_.wait(lk);
      continue;
    }
    auto until = *deadline_;
    if (cv_.wait_until(lk, until) == std::cv_status::timeout && deadline_ == until && !quit_) {
      std::fprintf(stderr,
                   "\n[  TIMEOUT ] %s did not finish within %lld s (AMBER_TEST_TIMEOUT_S); aborting the test run\n",
                   name_.c_str(), static_cast<long long>(limit_.count()));
      std::fflush(stderr);
      std::fflush(stdout);
      std::abort();
    }
  }
}

}  // namespace amber::kvm::test
