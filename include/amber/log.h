#pragma once
// Logging to stderr (stdout belongs to the guest console). Guest-triggered
// messages go through RateLimit so a hostile guest cannot flood the host.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>

#include <fmt/core.h>

namespace amber::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Process-wide verbosity; set once by the CLI before threads start.
inline std::atomic<Level>& level() {
  static std::atomic<Level> lvl{Level::kWarn};
  return lvl;
}

inline bool enabled(Level l) { return l <= level().load(std::memory_order_relaxed); }

template <class... Args>
void write(Level l, fmt::format_string<Args...> f, Args&&... args) {
  if (!enabled(l)) return;
  static constexpr const char* kTag[] = {"error", "warning", "info", "debug"};
  // One fmt::print call per line keeps lines from different threads whole.
  fmt::print(stderr, "amber: {}: {}\r\n", kTag[static_cast<int>(l)],
             fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... a) { write(Level::kError, f, std::forward<Args>(a)...); }
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) { write(Level::kWarn, f, std::forward<Args>(a)...); }
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { write(Level::kInfo, f, std::forward<Args>(a)...); }
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { write(Level::kDebug, f, std::forward<Args>(a)...); }

// Token bucket: at most `burst` messages, refilled at `per_second`. Used for
// every message a guest can trigger. Thread-safe.
class RateLimit {
 public:
  explicit RateLimit(double per_second = 1.0, double burst = 10.0)
      : rate_(per_second), burst_(burst), tokens_(burst) {}

  // True when a message may be printed now; then `*dropped` (when given) is
  // the number of messages refused since the last one allowed, so that
  // message can say how many were lost.
  bool allow(uint64_t* dropped = nullptr) {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (started_) {
      double dt = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst_, tokens_ + dt * rate_);
    }
    started_ = true;
    last_ = now;
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      if (dropped) *dropped = suppressed_;
      suppressed_ = 0;
      return true;
    }
    ++suppressed_;
    return false;
  }

 private:
  std::mutex mu_;
  double rate_, burst_, tokens_;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_{};
  uint64_t suppressed_ = 0;  // refused since the last allowed message
};

// Guest-triggered warning: printed only when `limit` allows it, ending in
// "(N more suppressed)" when messages were dropped since the last one printed.
template <class... Args>
void guest_warn(RateLimit& limit, fmt::format_string<Args...> f, Args&&... a) {
  uint64_t dropped = 0;
  if (!enabled(Level::kWarn) || !limit.allow(&dropped)) return;
  if (dropped == 0)
    write(Level::kWarn, f, std::forward<Args>(a)...);
  else
    write(Level::kWarn, "{} ({} more suppressed)", fmt::format(f, std::forward<Args>(a)...), dropped);
}

}  // namespace amber::log
