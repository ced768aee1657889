#pragma once
// A fake interrupt line for device unit tests and fuzzers: records every
// level change and every edge so a test can assert exactly what the guest
// would have seen. Thread-safe (devices raise lines from several threads).
#include <cstddef>
#include <mutex>
#include <vector>

#include "amber/irq.h"

namespace amber::fake {

class RecordingIrq : public IrqLine {
 public:
  void set_level(bool high) noexcept override {
    std::lock_guard lock(mu_);
    level_ = high;
    levels_.push_back(high);
  }
  void trigger() noexcept override {
    std::lock_guard lock(mu_);
    ++triggers_;
  }

  bool level() const {
    std::lock_guard lock(mu_);
    return level_;
  }
  // Every set_level() call in order (a device may repeat a level after restore).
  std::vector<bool> levels() const {
    std::lock_guard lock(mu_);
    return levels_;
  }
  size_t set_level_calls() const {
    std::lock_guard lock(mu_);
    return levels_.size();
  }
  size_t triggers() const {
    std::lock_guard lock(mu_);
    return triggers_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    levels_.clear();
    triggers_ = 0;
  }

 private:
  mutable std::mutex mu_;
  bool level_ = false;
  std::vector<bool> levels_;
  size_t triggers_ = 0;
};

}  // namespace amber::fake
