#include "sandbox/jail.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/unique_fd.h"

namespace amber::sandbox {

namespace {

// ---------------------------------------------------------------- parent --
// The parent stays outside the pid namespace and does nothing but wait:
// a signal for amber (a terminal's ^C, a supervisor's SIGTERM) goes to it by
// pid, so it is passed on to the child, whose signalfd stops the VM cleanly.

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  int saved = errno;
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
  errno = saved;
}

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};

[[noreturn]] void supervise(pid_t child, const sigset_t& old_mask) {
  g_child = child;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : kForwarded) ::sigaction(s, &sa, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(child, &st, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) std::_Exit(1);
  }
  std::_Exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

// ----------------------------------------------------------------- child --

std::string join(const std::string& dir, const char* name) {
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

void check(int rc, const std::string& what) {
  if (rc < 0) throw SysError("--jail: " + what, errno);
}

// A directory inside DIR for a mount point or a node (dev, proc); an
// existing one is kept.
void make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) throw SysError("--jail: mkdir " + path, errno);
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    throw Error(fmt::format("--jail: {} exists and is not a directory", path));
}

// DIR/dev/kvm, made with mknod for the jail user, mode 0660, like
// Firecracker's jailer: a bind mount of the host's node would share its
// inode and so its owner and mode. The numbers are the host's, else 10:232.
// DIR is writable by the jail user, who may have run here before: DIR/dev is
// made root's and 0755 and everything is done relative to it without
// following links, so no one else can swap the node for a link to a host
// file between mknod and chown.
void make_kvm_node(const JailConfig& cfg, const std::string& root) {
  dev_t dev = makedev(kKvmMajor, kKvmMinor);
  struct stat host {};
  if (::stat("/dev/kvm", &host) == 0 && S_ISCHR(host.st_mode)) dev = host.st_rdev;
  std::string devdir = join(root, "dev");
  make_dir(devdir, 0755);
  UniqueFd dir(::open(devdir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw SysError("--jail: open " + devdir, errno);
  check(::fchown(dir.get(), 0, 0), "chown " + devdir);
  check(::fchmod(dir.get(), 0755), "chmod " + devdir);
  std::string node = devdir + "/kvm";
  struct stat old {};
  if (::fstatat(dir.get(), "kvm", &old, AT_SYMLINK_NOFOLLOW) == 0) {
    // A node left by an earlier jailed run is replaced; anything else there
    // is the user's, and kept.
    if (!S_ISCHR(old.st_mode)) throw Error(fmt::format("--jail: {} exists and is not a device node", node));
    check(::unlinkat(dir.get(), "kvm", 0), "unlink the old " + node);
  }
  check(::mknodat(dir.get(), "kvm", S_IFCHR | 0600, dev),
        fmt::format("mknod {} (char {}:{})", node, major(dev), minor(dev)));
  check(::fchownat(dir.get(), "kvm", cfg.uid, cfg.gid, AT_SYMLINK_NOFOLLOW), "chown " + node);
  check(::fchmodat(dir.get(), "kvm", 0660, 0), "chmod " + node);
}

// The mounts: nothing amber does propagates back to the host; DIR becomes a
// mount of its own (pivot_root needs one), nosuid and noexec (amber runs no
// program), with device nodes allowed for its dev/kvm even when DIR's
// filesystem is mounted nodev; a /proc of the new pid namespace (amber
// names O_TMPFILEs through /proc/self/fd and reads /proc/self/pagemap),
// showing only processes (subset=pid) where the kernel has that.
void mount_jail(const std::string& root) {
  check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make the mount tree private");
  check(::mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind-mount " + root + " onto itself");
  struct statvfs vfs {};
  unsigned long ro = ::statvfs(root.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) ? MS_RDONLY : 0;
  check(::mount(nullptr, root.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | ro, nullptr),
        "remount " + root + " nosuid,noexec");
  std::string proc = join(root, "proc");
  make_dir(proc, 0555);
  unsigned long pflags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount("proc", proc.c_str(), "proc", pflags, "subset=pid") < 0)
    check(::mount("proc", proc.c_str(), "proc", pflags, nullptr), "mount proc on " + proc);
}

// --jail-cgroup: the child joins it before anything else is set up, so all
// it allocates is counted. "0" is the writing process itself, whatever its
// number in the new pid namespace.
void join_cgroup(const std::string& cgroup) {
  std::string procs = join(cgroup, "cgroup.procs");
  UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd)
    throw SysError(fmt::format("--jail-cgroup {}: cannot open {} (a cgroup v2 directory is needed)", cgroup, procs),
                   errno);
  if (::write(fd.get(), "0", 1) != 1)
    throw SysError(fmt::format("--jail-cgroup {}: cannot move amber into it (write {})", cgroup, procs), errno);
}

// Makes the current directory (DIR's mount) the root. pivot_root(".", ".")
// stacks the old root on top of the new one, where umount2 detaches it.
// The root of an initramfs cannot be pivoted away from (EINVAL; the QEMU-TCG
// sandbox's L1 runs from one): then, like switch_root and runc's
// no_pivot_root, DIR's mount is moved over "/" and chrooted into. The old
// root stays beneath it in this private namespace, reachable only by a
// chroot escape, which needs CAP_SYS_CHROOT: gone with the uid drop.
void pivot_into(const std::string& root) {
  check(::chdir(root.c_str()), "chdir " + root);
  if (::syscall(SYS_pivot_root, ".", ".") == 0) {
    check(::umount2(".", MNT_DETACH), "detach the old root");
  } else if (errno == EINVAL) {
    check(::mount(".", "/", nullptr, MS_MOVE, nullptr), "move " + root + " onto / (pivot_root: EINVAL)");
    check(::chroot("."), "chroot " + root);
  } else {
    throw SysError("--jail: pivot_root into " + root, errno);
  }
  check(::chdir("/"), "chdir /");
}

void drop_user(const JailConfig& cfg) {
  check(::setgroups(0, nullptr), "setgroups");
  check(::setresgid(cfg.gid, cfg.gid, cfg.gid), fmt::format("setresgid {}", cfg.gid));
  check(::setresuid(cfg.uid, cfg.uid, cfg.uid), fmt::format("setresuid {}", cfg.uid));
  // Cannot become root again: no saved uid 0, no capabilities left.
  uid_t r, e, s;
  gid_t gr, ge, gs;
  if (::getresuid(&r, &e, &s) != 0 || r != cfg.uid || e != cfg.uid || s != cfg.uid || ::getresgid(&gr, &ge, &gs) != 0 ||
      gr != cfg.gid || ge != cfg.gid || gs != cfg.gid || ::getgroups(0, nullptr) != 0)
    throw Error("--jail: the uid/gid did not change as asked");
  if (::setuid(0) == 0 || ::setgid(0) == 0) throw Error("--jail: could become root again after dropping to the jail user");
  // A credential change made the process undumpable: /proc/self/* would be
  // root's and amber could not read its own pagemap. Dumpable again, as if
  // the jail user had started it (Firecracker's jailer gets this by exec);
  // RLIMIT_CORE 0 below keeps it from writing cores. The parent's death ends
  // the jailed amber (set after the uid change, which clears it).
  check(::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)");
  check(::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)");
}

void set_limit(int resource, uint64_t value, const char* name) {
  rlimit rl{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  if (::setrlimit(resource, &rl) < 0) throw SysError(fmt::format("--jail: setrlimit {} {}", name, value), errno);
}

void set_limits(const JailConfig& cfg) {
  set_limit(RLIMIT_NOFILE, cfg.nofile, "nofile");
  set_limit(RLIMIT_CORE, 0, "core");
  if (cfg.fsize) {
    set_limit(RLIMIT_FSIZE, *cfg.fsize, "fsize");
    // A write past the limit then fails with EFBIG, reported like any
    // other write error, instead of killing amber with SIGXFSZ.
    ::signal(SIGXFSZ, SIG_IGN);
  }
  if (cfg.as) set_limit(RLIMIT_AS, *cfg.as, "as");
}

// Landlock (Documentation/userspace-api/landlock.rst): files only beneath
// the new root, and there neither execute nor make device nodes. REFER
// (ABI 2, cross-directory rename and link, which ABI 1 always denies) and
// TRUNCATE (ABI 3) are handled and allowed where the kernel knows them, so
// the 9p server's renames keep working. Returns false where the kernel has
// no Landlock.
bool restrict_with_landlock() {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    if (errno == ENOSYS || errno == EOPNOTSUPP) return false;
    throw SysError("--jail: landlock_create_ruleset (version)", errno);
  }
  uint64_t handled = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                     LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) handled |= 1ull << 14;  // LANDLOCK_ACCESS_FS_TRUNCATE
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  int rs = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  if (rs < 0) throw SysError("--jail: landlock_create_ruleset", errno);
  UniqueFd ruleset(rs);
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SysError("--jail: open / for Landlock", errno);
  landlock_path_beneath_attr beneath{};
  beneath.allowed_access =
      handled & ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
  beneath.parent_fd = root.get();
  if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0)
    throw SysError("--jail: landlock_add_rule", errno);
  check(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) < 0) throw SysError("--jail: landlock_restrict_self", errno);
  return true;
}

// Temporary files (a resumed disk's overlay, `--disk PATH,cow`) go to
// $TMPDIR or /tmp, which are now paths inside the jail. Where neither is a
// directory there, they go to the jail's root: unnamed O_TMPFILEs on DIR's
// file system, gone with amber.
void point_tmpdir_into_jail() {
  const char* env = std::getenv("TMPDIR");
  std::string tmp = env && *env ? env : "/tmp";
  struct stat st {};
  if (::stat(tmp.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
  ::setenv("TMPDIR", "/", 1);
}

void jail_child(const JailConfig& cfg, const std::string& root, void (*before_drop)(), std::vector<int> keep) {
  // Descriptors inherited from whoever started amber could lead back out of
  // the jail (an open directory, fchdir); the console's stdio stays, and
  // what the caller keeps (sockets and pipes, never a directory).
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < 3 || unsigned(fd) < from) continue;
    if (unsigned(fd) > from) ::close_range(from, unsigned(fd) - 1, 0);
    from = unsigned(fd) + 1;
  }
  ::close_range(from, UINT_MAX, 0);
  check(::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET), "unshare mount, ipc, uts and network namespaces");
  if (!cfg.cgroup.empty()) join_cgroup(cfg.cgroup);
  mount_jail(root);
  make_kvm_node(cfg, root);
  pivot_into(root);
  point_tmpdir_into_jail();
  if (before_drop) before_drop();
  drop_user(cfg);
  set_limits(cfg);
  if (!restrict_with_landlock())
    fmt::print(stderr, "amber: note: --jail: this kernel has no Landlock; files are confined by the mount namespace "
                       "and pivot_root alone\n");
}

}  // namespace

void enter_jail(const JailConfig& cfg, void (*before_drop)(), std::vector<int> keep) {
  // DIR as an absolute path without symbolic links: the mounts below name it.
  char* real = ::realpath(cfg.dir.c_str(), nullptr);
  if (!real) throw SysError("--jail " + cfg.dir, errno);
  std::string root = real;
  std::free(real);
  struct stat st {};
  if (::stat(root.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    throw Error(fmt::format("--jail {}: not a directory", cfg.dir));
  if (root == "/") throw Error("--jail /: the jail must be a directory other than the host's root");
  if (::geteuid() != 0)
    throw Error(fmt::format("--jail needs root (it makes namespaces, mounts and a device node, then drops to uid {}); "
                            "this is uid {}",
                            cfg.uid, ::geteuid()));
  if (::unshare(CLONE_NEWPID) < 0) throw SysError("--jail: unshare pid namespace", errno);
  // Blocked across the fork: the child keeps them blocked (amber reads them
  // from a signalfd; the init of a pid namespace would drop a signal it has
  // no handler for), the parent unblocks them once it forwards them.
  sigset_t forwarded, old;
  sigemptyset(&forwarded);
  for (int s : kForwarded) sigaddset(&forwarded, s);
  ::pthread_sigmask(SIG_BLOCK, &forwarded, &old);
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) throw SysError("--jail: fork", errno);
  if (child > 0) supervise(child, old);
  jail_child(cfg, root, before_drop, std::move(keep));
}

}  // namespace amber::sandbox
