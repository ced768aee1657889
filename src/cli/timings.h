#pragma once
// --timings: named phases measured from the command's start (a pool
// worker's: its client's, cli/pool.h), printed on
// stderr as "amber: timings: open image 0.21 ms, map RAM 0.05 ms, ...".
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>

namespace amber::cli {

class Timings {
 public:
  explicit Timings(bool enabled, std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now())
      : enabled_(enabled), start_(start), last_(start_) {}
  void mark(std::string phase) {
    auto now = std::chrono::steady_clock::now();
    phases_.emplace_back(std::move(phase), std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
  }
  void print() const {
    if (!enabled_) return;
    std::string s;
    for (auto& [name, ms] : phases_) s += fmt::format("{}{} {:.2f} ms", s.empty() ? "" : ", ", name, ms);
    double total = std::chrono::duration<double, std::milli>(last_ - start_).count();
    fmt::print(stderr, "amber: timings: {}; total {:.2f} ms\r\n", s, total);
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
  std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace amber::cli
