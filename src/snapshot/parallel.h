#pragma once
// A minimal fork-join loop: image save/load work splits into independent
// pieces (4 MiB RAM slices, 1 MiB zstd chunks) of similar cost, so dynamic
// index claiming over a few std::threads is all the scheduling needed.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "amber/thread_role.h"

namespace amber::image {

// Resolves "0 = auto" and never exceeds the work available.
inline unsigned worker_count(unsigned requested, size_t items) {
  unsigned n = requested ? requested : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(n, items)));
}

// Calls fn(i, worker) for every i in [0, n) on `threads` threads (the caller's
// thread is worker 0). The first exception stops further items and is
// rethrown after all workers have joined.
template <class Fn>
void parallel_for(size_t n, unsigned threads, Fn&& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  auto body = [&](unsigned worker) {
    for (;;) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n || failed.load(std::memory_order_relaxed)) return;
      try {
        fn(i, worker);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < threads; ++w)
    pool.emplace_back([&body, w] {
      enter_thread_role(ThreadRole::kSave);  // on top of the filter inherited from the caller
      body(w);
    });
  body(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace amber::image
