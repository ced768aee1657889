#include "amber/thread_role.h"

#include <unistd.h>

#include <atomic>

namespace amber {

namespace {
std::atomic<ThreadStartHook> g_hook{nullptr};
std::atomic<FatalCleanup> g_cleanup{nullptr};
std::atomic<int> g_exit_report{-1};
}  // namespace

const char* thread_role_name(ThreadRole role) noexcept {
  switch (role) {
    case ThreadRole::kMain: return "main";
    case ThreadRole::kVcpu: return "vcpu";
    case ThreadRole::kIo: return "io";
    case ThreadRole::kConsole: return "console";
    case ThreadRole::kApi: return "api";
    case ThreadRole::kSignals: return "signals";
    case ThreadRole::kSave: return "save";
    case ThreadRole::kGdb: return "gdb";
    case ThreadRole::kFill: return "fill";
  }
  return "?";
}

void set_thread_start_hook(ThreadStartHook hook) noexcept { g_hook.store(hook); }

void enter_thread_role(ThreadRole role) noexcept {
  if (auto hook = g_hook.load()) hook(role);
}

void set_fatal_cleanup(FatalCleanup cleanup) noexcept { g_cleanup.store(cleanup); }

void set_fatal_exit_report(int fd) noexcept { g_exit_report.store(fd); }

void run_fatal_cleanup(int exit_status) noexcept {
  if (auto f = g_cleanup.load()) f();
  if (int fd = g_exit_report.load(); fd >= 0) {
    // "status N" without formatting functions (async-signal-safe).
    char buf[24] = "status ";
    size_t n = 7;
    char digits[12];
    size_t d = 0;
    unsigned v = static_cast<unsigned>(exit_status) & 0xff;
    do digits[d++] = char('0' + v % 10);
    while ((v /= 10) && d < sizeof digits);
    while (d) buf[n++] = digits[--d];
    [[maybe_unused]] auto r = ::write(fd, buf, n);
  }
}

}  // namespace amber
