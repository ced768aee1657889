// Test-only launcher: makes the named system calls fail with an errno in a
// program, without a test hook in that program.
//   fail_syscalls_exec SYSCALL[,SYSCALL...] ERRNO PROGRAM [ARGS...]
// installs a seccomp filter that answers each SYSCALL with -ERRNO (a number,
// or EIO / ENOSPC) and allows everything else, then execs PROGRAM. The filter
// is inherited across fork and exec and stacks with the program's own: the
// kernel runs every filter and takes the highest-precedence action, and
// SECCOMP_RET_ERRNO precedes SECCOMP_RET_ALLOW (seccomp(2) "Filter return
// values"), so an allowed call still fails; one the program's filter traps
// or kills stays so. libseccomp sets no_new_privs first (SCMP_FLTATR_CTL_NNP),
// so no privilege is needed. Used by CrashSafety.ASaveThatGetsEio* to give a
// save a real EIO (src/vmm/crash_safety_kvm_test.cpp).
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: fail_syscalls_exec SYSCALL[,SYSCALL...] ERRNO PROGRAM [ARGS...]\n");
    return 2;
  }
  std::string err_name = argv[2];
  int err = err_name == "EIO" ? EIO : err_name == "ENOSPC" ? ENOSPC : std::atoi(argv[2]);
  if (err <= 0 || err > 4095) {
    std::fprintf(stderr, "fail_syscalls_exec: bad errno %s\n", argv[2]);
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    std::fprintf(stderr, "fail_syscalls_exec: seccomp_init failed\n");
    return 2;
  }
  std::string list = argv[1];
  for (size_t pos = 0; pos <= list.size();) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string name = list.substr(pos, comma - pos);
    pos = comma + 1;
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      std::fprintf(stderr, "fail_syscalls_exec: unknown system call %s\n", name.c_str());
      return 2;
    }
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(uint32_t(err)), nr, 0); rc < 0) {
      std::fprintf(stderr, "fail_syscalls_exec: seccomp_rule_add %s: %s\n", name.c_str(), std::strerror(-rc));
      return 2;
    }
  }
  if (int rc = seccomp_load(ctx); rc < 0) {
    std::fprintf(stderr, "fail_syscalls_exec: seccomp_load: %s\n", std::strerror(-rc));
    return 2;
  }
  seccomp_release(ctx);
  ::execv(argv[3], argv + 3);
  std::fprintf(stderr, "fail_syscalls_exec: exec %s: %s\n", argv[3], std::strerror(errno));
  return 127;
}
