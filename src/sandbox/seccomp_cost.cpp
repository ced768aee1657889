// What a seccomp filter adds to one system call, on the host (no KVM):
// nanoseconds per call on a thread without filters, then on threads with
// the filters each role really has (main's, plus the role's own stacked on
// it, as for threads the main thread starts). Also the time to compile all
// seven filters (setup_seccomp, once per amber run). docs/performance.md.
//   build/src/sandbox/seccomp_cost [CALLS]
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "sandbox/syscall_filter.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best of 5 runs of `calls` calls of `fn`, in ns per call.
template <class Fn>
double ns_per_call(long calls, Fn fn) {
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    for (long i = 0; i < calls; ++i) fn();
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / double(calls);
    if (ns < best) best = ns;
  }
  return best;
}

void measure(const char* label, long calls, int efd) {
  // lseek: early in every list; pwrite64: later (disk I/O); ioctl: argument
  // checks (KVM type on a bad fd: the kernel answers EBADF at once).
  double lseek_ns = ns_per_call(calls, [&] { ::syscall(SYS_lseek, efd, 0, SEEK_CUR); });
  double futex_ns = ns_per_call(calls, [&] { ::syscall(SYS_futex, nullptr, 1 /*FUTEX_WAKE*/, 0, 0, 0, 0); });
  std::printf("%-28s lseek %7.1f ns   futex %7.1f ns\n", label, lseek_ns, futex_ns);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  long calls = argc > 1 ? std::atol(argv[1]) : 2000000;
  int efd = eventfd(0, EFD_CLOEXEC);
  auto t0 = Clock::now();
  amber::sandbox::setup_seccomp(amber::sandbox::SeccompMode::kOn);
  double setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("setup_seccomp (7 filters built in, SIGSYS handler): %.2f ms\n", setup_ms);
  std::thread([&] {
    measure("no filter", calls, efd);
    double ioctl_ns = ns_per_call(calls / 4, [] { ::syscall(SYS_ioctl, -1, 0xAE80 /*KVM_RUN*/, 0); });
    std::printf("%-28s ioctl(KVM_RUN, bad fd) %.1f ns\n", "", ioctl_ns);
  }).join();
  std::thread([&] {
    amber::enter_thread_role(amber::ThreadRole::kIo);
    measure("io alone", calls, efd);
  }).join();
  // From here on the main thread is filtered; the threads it starts stack.
  amber::enter_thread_role(amber::ThreadRole::kMain);
  measure("main", calls, efd);
  for (auto role : {amber::ThreadRole::kVcpu, amber::ThreadRole::kIo}) {
    std::thread([&] {
      amber::enter_thread_role(role);
      char label[40];
      std::snprintf(label, sizeof label, "main + %s (stacked)", amber::thread_role_name(role));
      measure(label, calls, efd);
      if (role == amber::ThreadRole::kVcpu) {
        double ioctl_ns = ns_per_call(calls / 4, [] { ::syscall(SYS_ioctl, -1, 0xAE80 /*KVM_RUN*/, 0); });
        std::printf("%-28s ioctl(KVM_RUN, bad fd) %.1f ns\n", "", ioctl_ns);
      }
    }).join();
  }
  return 0;
}
