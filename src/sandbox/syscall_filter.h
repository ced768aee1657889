#pragma once
// Per-thread system-call allow-lists (issue 17, docs/security.md). Each of
// amber's thread roles (amber/thread_role.h) gets its own seccomp filter,
// compiled at build time with libseccomp (filter_rules.h) and loaded, with
// no_new_privs, by the thread itself when it enters its role, so the guest
// never runs its first instruction outside it. A denied call traps: the
// SIGSYS handler writes one line naming the thread's role and the call and
// ends amber with kSeccompExitStatus; an image being written is an unlinked
// O_TMPFILE until its linkat, so it disappears and the old image stays.
#include <optional>
#include <string_view>
#include <vector>

#include "amber/thread_role.h"

namespace amber::sandbox {

enum class SeccompMode {
  kOn,   // allow-lists enforced; a call outside them ends amber (the default)
  kLog,  // calls outside them are allowed and logged by the kernel (dmesg)
  kOff,  // no filters
};

// The exit status after a forbidden system call: 128 + SIGSYS, what a shell
// reports for a process killed by SIGSYS, but after a clean message.
inline constexpr int kSeccompExitStatus = 159;

// "on", "log", "off"; nullopt for anything else.
std::optional<SeccompMode> parse_seccomp_mode(std::string_view text);
const char* seccomp_mode_name(SeccompMode mode);

// Picks every role's filter (compiled at build time, filter_rules.h), installs the SIGSYS reporter and the
// thread-start hook (amber::set_thread_start_hook). Main thread, before any
// of the VM's threads start; once per process. kOff: nothing. Throws Error
// for an unknown AMBER_TEST_FORBIDDEN_SYSCALL role.
// AMBER_TEST_FORBIDDEN_SYSCALL=ROLE (test-only, docs/testing.md) makes the
// first thread of that role call mount(2) right after its filter is loaded.
void setup_seccomp(SeccompMode mode);

}  // namespace amber::sandbox
