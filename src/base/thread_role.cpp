#include "amber/thread_role.h"

#include <atomic>

namespace amber {

namespace {
std::atomic<ThreadStartHook> g_hook{nullptr};
std::atomic<FatalCleanup> g_cleanup{nullptr};
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

void run_fatal_cleanup() noexcept {
  if (auto f = g_cleanup.load()) f();
}

}  // namespace amber
