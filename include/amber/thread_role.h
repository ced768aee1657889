#pragma once
// The role of each thread amber starts, for per-thread system-call filters
// (src/sandbox/syscall_filter.h, docs/security.md). Every thread calls
// enter_thread_role() first thing; the command that runs a VM installs the
// hook that names the thread and loads its role's seccomp filter. Without a
// hook (unit tests, inspect, verify) it does nothing.
namespace amber {

enum class ThreadRole {
  kMain,     // builds the VM, runs the event loop, saves and resets
  kVcpu,     // KVM_RUN and exit handling (src/vmm/vcpu_thread.h)
  kIo,       // virtio-blk, virtio-rng, virtio-9p (src/vmm/io_thread.h)
  kConsole,  // stdin into the UART (src/vmm/console.h)
  kApi,      // control-socket acceptor and clients (src/api/api_server.h)
  kSignals,  // the signalfd reader (src/cli/commands.cpp)
  kSave,     // image-writer workers (src/snapshot/parallel.h)
  kGdb,      // the gdb stub's socket (src/gdb/server.h)
  kFill,     // a lazy zstd image's userfaultfd server (src/snapshot/lazy_ram.h)
};
inline constexpr int kThreadRoleCount = 9;

// "main", "vcpu", "io", "console", "api", "signals", "save", "gdb", "fill".
const char* thread_role_name(ThreadRole role) noexcept;

using ThreadStartHook = void (*)(ThreadRole role);
// Set once, before the VM's threads start (the hook must not throw).
void set_thread_start_hook(ThreadStartHook hook) noexcept;
// Runs the hook for the calling thread.
void enter_thread_role(ThreadRole role) noexcept;

// Called, async-signal-safe, just before amber ends the process with
// _exit(exit_status) on a fatal path (a forbidden system call, a bad zstd
// chunk): puts the terminal back, and writes "status N" to the descriptor
// set_fatal_exit_report() gave (a warm-pool worker's client, which would
// otherwise never learn the status: cli/pool.h).
using FatalCleanup = void (*)() noexcept;
void set_fatal_cleanup(FatalCleanup cleanup) noexcept;
void set_fatal_exit_report(int fd) noexcept;  // -1: none
void run_fatal_cleanup(int exit_status) noexcept;

}  // namespace amber
