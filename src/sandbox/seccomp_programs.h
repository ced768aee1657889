#pragma once
// The filters of every thread role, compiled at build time
// (src/sandbox/seccomp_gen.cpp writes seccomp_programs.cpp).
#include <linux/filter.h>

#include <cstddef>

#include "amber/thread_role.h"

namespace amber::sandbox {

struct FilterProgram {
  const sock_filter* code;
  size_t size;
};
// [0]: --seccomp=on (SECCOMP_RET_TRAP), [1]: --seccomp=log (SECCOMP_RET_LOG).
extern const FilterProgram kFilterPrograms[2][kThreadRoleCount];

// x86-64 system call names by number (nullptr: none), for the SIGSYS report.
inline constexpr int kMaxSyscallName = 512;
extern const char* const kSyscallNames[kMaxSyscallName];

}  // namespace amber::sandbox
