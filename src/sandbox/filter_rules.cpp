#include "sandbox/filter_rules.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/unique_fd.h"
#include "kvm/kvm_abi.h"

namespace amber::sandbox {

namespace {

using Names = std::vector<std::string_view>;

// What every thread does: memory, locks, signals, time, its own exit, and
// reading and writing descriptors it already holds. Checked by runs under
// --seccomp=log over the vmm and linux suites (docs/security.md), then
// pinned. mmap and mprotect are allowed without PROT_EXEC only (below).
const Names kCommon = {
    "read", "write", "readv", "writev", "close", "lseek", "fstat", "newfstatat",
    "futex", "munmap", "mremap", "madvise", "brk",
    "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "restart_syscall",
    "exit", "exit_group", "gettid", "getpid", "tgkill",
    "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "sched_yield",
    "getrandom", "set_robust_list", "rseq",
};
// A disk's data: virtio-blk requests on the I/O thread, and on a vCPU
// thread when a queue is notified without an ioeventfd (architecture.md).
const Names kBlockIo = {
    "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "fsync", "fdatasync", "fallocate",
};
// The 9p server's host file system calls (devices/virtio/p9/host_fs.cpp),
// all relative to descriptors it holds (openat2 with RESOLVE_BENEATH).
const Names kShareFs = {
    "openat", "openat2", "mkdirat", "mknodat", "unlinkat", "renameat", "renameat2", "linkat", "symlinkat",
    "readlinkat", "fchmod", "fchmodat", "fchown", "fchownat", "utimensat", "getdents64", "fstatfs", "statfs",
    "statx", "fcntl", "ftruncate", "faccessat", "faccessat2", "fgetxattr", "flistxattr",
};
// Saving an image (src/snapshot/atomic_file.cpp: O_TMPFILE, fchmod,
// fsync, linkat or rename), resetting to it, stopping the threads, and
// `amber exec` removing its status directory (rmdir) after the run.
const Names kMainOnly = {
    "openat", "linkat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "fchmod", "fchmodat",
    "mkdir", "mkdirat",  // the check records' directory (src/snapshot/checked_images.cpp), at an in-place reset
    "ftruncate", "fallocate", "fcntl", "mincore", "statfs", "fstatfs", "statx", "getdents64",
    "eventfd2", "epoll_create1", "epoll_ctl", "pipe2", "sched_getaffinity", "getcwd", "readlink",
    "poll", "ppoll", "epoll_wait", "epoll_pwait", "dup", "umask", "getuid", "geteuid", "getgid", "getegid",
    "uname", "prlimit64", "sysinfo", "seccomp", "rt_sigaction",
    // The background save's writer process (src/vmm/background_save.cpp):
    // waited for, killed on an error path; it checks its parent is alive.
    "wait4", "kill", "getppid",
};

constexpr unsigned long kTtyIoctlType = 0x54;  // 'T': TCGETS, TCSETS, TIOCGWINSZ

// ioctls by their exact request number, as Firecracker and Cloud Hypervisor
// list them. The numbers come from the headers the calling code uses:
// <linux/kvm.h>, and src/kvm/kvm_abi.h for the ioctls whose struct ends in a
// flexible array (under g++ <linux/kvm.h>'s _IOW sizes for those are wrong;
// src/kvm uses kvm_abi.h's, so the filter must too). libseccomp compares
// all 64 bits: glibc's ioctl passes the request as an unsigned long, so a
// request with bit 31 set (_IOR, _IOWR) is not sign-extended.
using Requests = std::vector<unsigned long>;

// What a vCPU thread issues on its vCPU's descriptor (src/kvm/kvm_vcpu.cpp,
// kvm_vcpu_debug.cpp, vcpu_state.cpp): KVM_RUN, then the state the save,
// restore, reset and gdb tasks
// (Machine::run_on_vcpu) read and write there, plus KVM_IRQ_LINE on the VM's
// descriptor: the devices it emulates on an exit (the UART, the i8042,
// virtio-mmio without an ioeventfd) raise their lines from it.
const Requests kVcpuIoctls = {
    KVM_RUN,
    KVM_IRQ_LINE,
    KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_SREGS2, KVM_SET_SREGS2,
    KVM_GET_FPU, KVM_SET_FPU, kvm::kKvmGetXsave, kvm::kKvmGetXsave2, kvm::kKvmSetXsave,
    KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
    KVM_GET_LAPIC, KVM_SET_LAPIC, kvm::kKvmGetMsrs, kvm::kKvmSetMsrs,
    kvm::kKvmSetCpuid2, kvm::kKvmGetCpuid2,
    KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
    KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ, KVM_KVMCLOCK_CTRL,
    KVM_SET_GUEST_DEBUG,
};
// What the main thread issues on the VM's descriptor once its filter is
// loaded: the VM-wide state a save reads and a reset writes
// (src/kvm/vm_state.cpp), and KVM_IRQFD, which a save uses to settle the
// virtio interrupts (irq_lines.cpp) and the Machine's destructor to unbind
// them. Everything that builds the VM (KVM_CREATE_VM, _VCPU, _IRQCHIP,
// _PIT2, KVM_SET_USER_MEMORY_REGION, KVM_IOEVENTFD, KVM_SET_TSS_ADDR,
// KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID, ...) runs before, and is in
// no list: one process runs one Machine, built before the filter.
const Requests kMainVmIoctls = {
    KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2, KVM_GET_CLOCK, KVM_SET_CLOCK,
    KVM_IRQFD,
};
// The lazy RAM restore's two fill threads (src/snapshot/lazy_ram.cpp); the
// main thread made the userfaultfd (UFFDIO_API, UFFDIO_REGISTER) before.
const Requests kFillIoctls = {UFFDIO_COPY, UFFDIO_WAKE};

struct RoleRules {
  Names calls;
  Requests ioctls;            // exact request numbers
  bool tty_ioctls = false;    // every 'T' ioctl; otherwise only TCSETS (the fatal path's terminal restore)
  bool threads = false;       // clone(CLONE_THREAD); prctl(PR_SET_NAME, PR_SET_NO_NEW_PRIVS) for children
  bool save_writer = false;   // glibc's fork() exactly, for the background save's child (it keeps this filter)
};

void append(Requests& to, const Requests& from) { to.insert(to.end(), from.begin(), from.end()); }
void append(Names& to, const Names& from) { to.insert(to.end(), from.begin(), from.end()); }

RoleRules rules_for(ThreadRole role) {
  RoleRules r;
  r.calls = kCommon;
  switch (role) {
    case ThreadRole::kVcpu:
      append(r.calls, kBlockIo);
      r.ioctls = kVcpuIoctls;
      break;
    case ThreadRole::kIo:
      append(r.calls, kBlockIo);
      append(r.calls, kShareFs);
      append(r.calls, {"epoll_wait", "epoll_pwait"});
      break;
    case ThreadRole::kConsole:
      append(r.calls, {"poll", "ppoll"});
      r.ioctls = {KVM_IRQ_LINE};  // input raises the UART's IRQ 4 (src/kvm/irq_lines.cpp)
      break;
    case ThreadRole::kApi:
      append(r.calls, {"poll", "ppoll", "accept4", "recvfrom", "sendto", "recvmsg", "sendmsg", "shutdown"});
      r.threads = true;  // one thread per client, each inheriting this filter
      break;
    case ThreadRole::kSignals:
      break;
    case ThreadRole::kGdb:
      // Its socket was bound and listened on before; it accepts one gdb,
      // talks to it and reaches the VM through the main loop (futexes).
      append(r.calls, {"poll", "ppoll", "accept4", "recvfrom", "sendto", "recvmsg", "sendmsg", "shutdown",
                       "setsockopt"});
      break;
    case ThreadRole::kSave:
      append(r.calls, kBlockIo);
      append(r.calls, {"mincore"});
      break;
    case ThreadRole::kFill:
      // Started by the resume before the main thread's filter is loaded, so
      // nothing is inherited: it waits on its userfaultfd and a stop eventfd
      // (poll), reads fault messages (read), reads zstd frames from the
      // image (pread64) and copies chunks in (UFFDIO_COPY, UFFDIO_WAKE). The
      // userfaultfd itself was made and registered by the main thread first.
      append(r.calls, {"pread64", "poll", "ppoll"});
      r.ioctls = kFillIoctls;
      break;
    case ThreadRole::kMain:
      // The main thread starts the vCPU, I/O, console and save threads after
      // its own filter is loaded; they inherit it and stack their own, so it
      // holds theirs too. Sockets are not in it: the control socket's thread
      // starts before it.
      for (ThreadRole child : {ThreadRole::kVcpu, ThreadRole::kIo, ThreadRole::kConsole, ThreadRole::kSave}) {
        RoleRules c = rules_for(child);
        append(r.calls, c.calls);
        append(r.ioctls, c.ioctls);
      }
      append(r.calls, kMainOnly);
      // Its own VM-level ioctls; a vCPU task also runs here when its
      // thread has ended (VcpuThread::run_on_thread), covered by the above.
      append(r.ioctls, kMainVmIoctls);
      r.tty_ioctls = true;
      r.threads = true;
      r.save_writer = true;
      break;
  }
  return r;
}

void check_rc(int rc, const std::string& what) {
  if (rc < 0) throw std::runtime_error("seccomp: " + what + ": " + std::strerror(-rc));
}

// Compiles one role's filter to classic BPF.
}  // namespace

std::vector<sock_filter> compile_filter(ThreadRole role, bool log_mode) {
  RoleRules r = rules_for(role);
  uint32_t deny = log_mode ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
  scmp_filter_ctx ctx = seccomp_init(deny);
  if (!ctx) throw Error("seccomp: seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  // Another ABI (int 0x80, x32) is denied as a whole.
  check_rc(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, deny), "bad-arch action");
  // A binary tree over the call numbers instead of one comparison per
  // allowed call: ~8 jumps to any decision instead of up to ~120.
  check_rc(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "binary-tree optimization");
  std::string role_name = thread_role_name(role);
  for (std::string_view name : r.calls) {
    std::string n(name);
    int nr = seccomp_syscall_resolve_name(n.c_str());
    if (nr == __NR_SCMP_ERROR) throw Error(fmt::format("seccomp: unknown system call '{}'", n));
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (rc == -EEXIST) continue;  // listed twice (the main role's union)
    check_rc(rc, fmt::format("{} filter: {}", role_name, n));
  }
  // No new executable memory: mmap and mprotect without PROT_EXEC.
  for (int nr : {SCMP_SYS(mmap), SCMP_SYS(mprotect)})
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)), "mmap rule");
  // ioctls by exact request number (the main role's union lists some twice).
  std::sort(r.ioctls.begin(), r.ioctls.end());
  r.ioctls.erase(std::unique(r.ioctls.begin(), r.ioctls.end()), r.ioctls.end());
  // libseccomp tests one syscall's values in descending order whatever
  // the order they were added in, so KVM_RUN (0xae80) comes near the end of
  // the vCPU's ~30 comparisons: tens of ns against the microseconds of a
  // VM exit (seccomp_cost; docs/performance.md).
  for (unsigned long req : r.ioctls)
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, req)),
             fmt::format("{} filter: ioctl {:#x}", role_name, req));
  if (r.tty_ioctls)
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, kTtyIoctlType << 8)),
             "ioctl rule");
  else
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TCSETS)), "ioctl rule");
  // glibc creates threads with clone3, whose flags sit behind a pointer a
  // filter cannot read: ENOSYS makes it fall back to clone, whose flags it
  // can. Threads only, never a new process.
  check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3 rule");
  if (r.threads) {
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
             "clone rule");
    // A child names itself and loads its own filter under this one.
    for (int option : {PR_SET_NAME, PR_SET_NO_NEW_PRIVS})
      check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(option))), "prctl rule");
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0);
    if (rc != -EEXIST) check_rc(rc, "seccomp rule");
  }
  // The one process amber makes: the background save's writer, a fork()
  // (glibc: clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD))
  // that inherits this filter, so it can exec nothing either. It asks to
  // die with its parent (PR_SET_PDEATHSIG).
  if (r.save_writer) {
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_EQ, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)),
             "fork rule");
    check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG)),
             "prctl rule");
  }
  // libseccomp writes the program to a descriptor; read it back.
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "amber-seccomp", 1u /* MFD_CLOEXEC */)));
  if (!fd) throw SysError("seccomp: memfd_create", errno);
  check_rc(seccomp_export_bpf(ctx, fd.get()), fmt::format("{} filter: export", role_name));
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) throw Error("seccomp: bad exported filter");
  std::vector<sock_filter> prog(size_t(size) / sizeof(sock_filter));
  if (::pread(fd.get(), prog.data(), size_t(size), 0) != size) throw SysError("seccomp: reading the filter", errno);
  return prog;
}


std::vector<std::string_view> role_syscalls(ThreadRole role) { return rules_for(role).calls; }

}  // namespace amber::sandbox
