#include "sandbox/syscall_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "amber/error.h"
#include "sandbox/seccomp_programs.h"

namespace amber::sandbox {

namespace {

SeccompMode g_mode = SeccompMode::kOff;
const FilterProgram* g_programs = nullptr;  // kFilterPrograms[mode], built in (seccomp_gen.cpp)
int g_test_role = -1;  // AMBER_TEST_FORBIDDEN_SYSCALL
std::atomic<bool> g_test_fired{false};
thread_local const char* t_role = "unfiltered";


// Async-signal-safe formatting into a fixed buffer.
struct Line {
  char buf[256];
  size_t len = 0;
  void add(const char* s) {
    while (*s && len < sizeof buf) buf[len++] = *s++;
  }
  void add(unsigned long v) {
    char d[24];
    int i = 0;
    do d[i++] = char('0' + v % 10); while ((v /= 10) && i < 24);
    while (i > 0 && len < sizeof buf) buf[len++] = d[--i];
  }
  void add_hex(unsigned long v) {
    add("0x");
    int shift = 60;
    while (shift > 0 && (v >> shift) == 0) shift -= 4;
    for (; shift >= 0 && len < sizeof buf; shift -= 4) buf[len++] = "0123456789abcdef"[(v >> shift) & 0xf];
  }
};

void on_sigsys(int, siginfo_t* info, void* uc) {
  Line l;
  l.add("\r\namber: seccomp: thread ");
  l.add(t_role);
  int nr = info->si_syscall;
  if (info->si_arch != AUDIT_ARCH_X86_64) {
    l.add(" made a system call of another ABI (nr ");
    l.add(static_cast<unsigned long>(nr));
    l.add(")");
  } else {
    l.add(" made forbidden system call ");
    // Names from a table made at build time: nothing to look up or allocate here.
    l.add(nr >= 0 && nr < kMaxSyscallName && kSyscallNames[nr] ? kSyscallNames[nr] : "?");
    l.add(" (nr ");
    l.add(static_cast<unsigned long>(nr));
    if (nr == SYS_ioctl && uc) {
      // Which ioctl: the trap leaves the call's registers as they were, so
      // its request (the second argument) is in rsi. The number, in hex as
      // <linux/kvm.h>'s _IO* macros make it (api.rst names each).
      l.add(", request ");
      l.add_hex(static_cast<unsigned long>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RSI]));
    }
    l.add(")");
  }
  l.add("; stopping (docs/security.md)\r\n");
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, l.buf, l.len);
  run_fatal_cleanup(kSeccompExitStatus);
  // exit_group: every thread ends now; an image being written is still an
  // unnamed O_TMPFILE and goes with the process.
  _exit(kSeccompExitStatus);
}

void fail(const char* what) noexcept {
  Line l;
  l.add("amber: error: seccomp: cannot load the ");
  l.add(t_role);
  l.add(" filter: ");
  l.add(what);
  l.add("\n");
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, l.buf, l.len);
  _exit(1);
}

void on_thread_start(ThreadRole role) {
  if (g_mode == SeccompMode::kOff) return;
  int i = static_cast<int>(role);
  t_role = thread_role_name(role);
  if (role != ThreadRole::kMain) {
    // The name in ps, top and the kernel's seccomp log lines (comm=).
    char name[16] = "amber-";
    std::strncat(name, t_role, sizeof name - 7);
    ::prctl(PR_SET_NAME, name);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
  sock_fprog prog{static_cast<unsigned short>(g_programs[i].size), const_cast<sock_filter*>(g_programs[i].code)};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) fail(std::strerror(errno));
  if (g_test_role == i && !g_test_fired.exchange(true)) {
    // Test-only (AMBER_TEST_FORBIDDEN_SYSCALL): a call no role allows.
    ::syscall(SYS_mount, nullptr, nullptr, nullptr, 0, nullptr);
  }
}

}  // namespace

std::optional<SeccompMode> parse_seccomp_mode(std::string_view text) {
  if (text == "on") return SeccompMode::kOn;
  if (text == "log") return SeccompMode::kLog;
  if (text == "off") return SeccompMode::kOff;
  return std::nullopt;
}

const char* seccomp_mode_name(SeccompMode mode) {
  switch (mode) {
    case SeccompMode::kOn: return "on";
    case SeccompMode::kLog: return "log";
    case SeccompMode::kOff: return "off";
  }
  return "?";
}

void setup_seccomp(SeccompMode mode) {
  if (mode == SeccompMode::kOff) return;
  g_programs = kFilterPrograms[mode == SeccompMode::kLog ? 1 : 0];
  if (const char* t = std::getenv("AMBER_TEST_FORBIDDEN_SYSCALL"); t && *t) {
    for (int i = 0; i < kThreadRoleCount; ++i)
      if (std::strcmp(t, thread_role_name(static_cast<ThreadRole>(i))) == 0) g_test_role = i;
    if (g_test_role < 0) throw Error(fmt::format("AMBER_TEST_FORBIDDEN_SYSCALL: no thread role '{}'", t));
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  check_sys(sigaction(SIGSYS, &sa, nullptr), "sigaction(SIGSYS)");
  g_mode = mode;
  set_thread_start_hook(on_thread_start);
  if (mode == SeccompMode::kLog)
    fmt::print(stderr,
               "amber: seccomp: log mode: calls outside a thread's allow-list are allowed and logged by the kernel "
               "(dmesg: 'audit: type=1326 ... comm=\"amber-ROLE\" ... syscall=N'; the main thread is comm=\"amber\")\n");
}

}  // namespace amber::sandbox
