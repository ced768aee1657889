#pragma once
// `--jail DIR` (issue 17 item 3, docs/security.md "The jail"): amber moves
// itself into new mount, pid, ipc, uts and network namespaces, makes DIR its
// root (pivot_root), with a /dev/kvm node made for the jail user and a fresh
// /proc, drops to an unprivileged uid/gid, sets rlimits, optionally joins a
// cgroup v2, and restricts file access with Landlock where the kernel has it.
// Every path amber opens afterwards (kernel, disks, shares, --save, --api)
// is resolved inside the jail: DIR is "/". Modelled on Firecracker's jailer.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amber::sandbox {

struct JailConfig {
  std::string dir;            // --jail DIR; empty: no jail
  uid_t uid = 65534;          // --jail-user UID[:GID] (default nobody:nogroup)
  gid_t gid = 65534;
  uint64_t nofile = 1024;     // --jail-limit nofile=N
  std::optional<uint64_t> fsize, as;  // --jail-limit fsize=BYTES,as=BYTES
  std::string cgroup;         // --jail-cgroup PATH (a cgroup v2 directory)
  bool operator==(const JailConfig&) const = default;
};

// The device node made inside the jail when the host has no /dev/kvm to
// copy the numbers from: KVM's fixed misc minor (Documentation/admin-guide/devices.txt).
inline constexpr unsigned kKvmMajor = 10, kKvmMinor = 232;

// Enters the jail. Must run while the process is single-threaded (the kernel
// refuses unshare(CLONE_NEWNS) otherwise). A new pid namespace applies only
// to children, so this forks: the parent stays outside, forwards SIGINT,
// SIGTERM and SIGHUP to the child and exits with the child's exit status
// (128 + the signal if it was killed); it never returns. The child returns,
// jailed, with SIGINT/SIGTERM/SIGHUP blocked (amber reads them from a
// signalfd). Errors before the fork (DIR missing, not root) and in the child
// (mknod, pivot, cgroup, uid) throw Error: one line, exit status 1.
// `before_drop`, when given, runs in the child inside the jail just before
// it drops root: what needs a privilege that the jail user lacks (resume:
// a userfaultfd that serves KVM's faults, snapshot/lazy_ram.h).
// Every descriptor above stderr is closed in the child except `keep` (the
// warm pool's listening socket and pipes, cli/pool.h).
void enter_jail(const JailConfig& cfg, void (*before_drop)() = nullptr, std::vector<int> keep = {});

}  // namespace amber::sandbox
