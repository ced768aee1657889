#pragma once
// The allow-list of each thread role (docs/security.md) and its compilation
// to classic BPF with libseccomp. Used at build time only: seccomp_gen.cpp
// writes every role's program into the generated seccomp_programs.cpp, so a
// run loads ready filters instead of compiling seven (0.6 ms each, against
// a 7-9 ms resume; docs/performance.md).
#include <linux/filter.h>

#include <string_view>
#include <vector>

#include "amber/thread_role.h"

namespace amber::sandbox {

// The role's program: allowed calls pass, anything else traps (SIGSYS), or
// with `log_mode` is allowed and logged by the kernel. Throws Error.
std::vector<sock_filter> compile_filter(ThreadRole role, bool log_mode);

// The system calls a role may make without argument checks (names).
std::vector<std::string_view> role_syscalls(ThreadRole role);

}  // namespace amber::sandbox
