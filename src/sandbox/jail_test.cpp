// The jail's set-up on the host, no KVM (src/sandbox/jail.h): a forked
// child enters the jail and checks from inside what each step left: its
// root, pid 1 of a new pid namespace, the jail user with no way back to
// root, the kvm node, /proc, the rlimits and, where the kernel has it,
// Landlock. Needs root (like the vmm suite's Jail.* tests, which run amber
// jailed end to end with a guest).
#include "sandbox/jail.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "amber/error.h"

namespace amber::sandbox {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "amber-jail-unit-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// Runs enter_jail(cfg) and then `inside` in a child; returns the exit
// status the outer process (the jail's supervisor) ends with, or 1000 +
// signal, and what was written to stderr.
template <class F>
int run_jailed(const JailConfig& cfg, F inside, std::string* err, std::vector<int> keep = {}) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], STDERR_FILENO);
    ::close(p[0]);
    try {
      enter_jail(cfg, nullptr, keep);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      std::fflush(stderr);
      ::_exit(1);
    }
    ::_exit(inside());
  }
  ::close(p[1]);
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) err->append(buf, size_t(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

#define REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "!!! the jail needs root (namespaces, mounts, mknod); this is uid " << ::geteuid()

// A failed check inside: its line on stderr, then a status naming it.
#define CHECK_INSIDE(cond, code)                                                        \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "inside the jail: %s failed (errno %s)\n", #cond, std::strerror(errno)); \
      return code;                                                                      \
    }                                                                                   \
  } while (0)

TEST(Jail, EveryStepIsInPlaceInside) {
  REQUIRE_ROOT();
  TempDir dir, outside;
  ASSERT_FALSE(dir.path.empty());
  ASSERT_FALSE(outside.path.empty());
  std::ofstream(dir.path + "/marker") << "inside\n";
  std::string host_file = outside.path + "/host-only";
  std::ofstream(host_file) << "outside\n";
  ::chmod(outside.path.c_str(), 0755);
  ::chmod(host_file.c_str(), 0644);
  ASSERT_EQ(::chown(dir.path.c_str(), 4242, 4343), 0);  // the jail user must be able to search its root
  JailConfig cfg;
  cfg.dir = dir.path;
  cfg.uid = 4242;
  cfg.gid = 4343;
  cfg.nofile = 100;
  cfg.fsize = 1 << 20;
  dev_t want_kvm = makedev(kKvmMajor, kKvmMinor);
  struct stat host_kvm {};
  if (::stat("/dev/kvm", &host_kvm) == 0 && S_ISCHR(host_kvm.st_mode)) want_kvm = host_kvm.st_rdev;
  bool landlock = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1 /* VERSION */) >= 0;
  std::string err;
  int rc = run_jailed(
      cfg,
      [&]() -> int {
        struct stat st {};
        CHECK_INSIDE(::stat("/marker", &st) == 0, 10);                        // DIR is /
        CHECK_INSIDE(::stat(host_file.c_str(), &st) != 0 && errno == ENOENT, 11);  // the host is not
        CHECK_INSIDE(::stat(dir.path.c_str(), &st) != 0 && errno == ENOENT, 12);
        CHECK_INSIDE(::getpid() == 1, 13);  // init of its own pid namespace
        CHECK_INSIDE(::getuid() == 4242 && ::geteuid() == 4242 && ::getgid() == 4343 && ::getegid() == 4343, 14);
        CHECK_INSIDE(::getgroups(0, nullptr) == 0, 15);
        CHECK_INSIDE(::setuid(0) != 0 && ::setgid(0) != 0, 16);
        CHECK_INSIDE(::stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == want_kvm, 17);
        CHECK_INSIDE(st.st_uid == 4242 && st.st_gid == 4343 && (st.st_mode & 07777) == 0660, 18);
        CHECK_INSIDE(::access("/proc/self/fd", R_OK) == 0 && ::access("/proc/1/status", R_OK) == 0, 19);
        CHECK_INSIDE(::access("/proc/sys", F_OK) != 0, 20);  // subset=pid: no /proc/sys
        rlimit rl{};
        CHECK_INSIDE(::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 100 && rl.rlim_max == 100, 21);
        CHECK_INSIDE(::getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == (1 << 20), 22);
        CHECK_INSIDE(::getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_max == 0, 23);
        CHECK_INSIDE(::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY, 24);
        // Writing where the jail user may: DIR is its own.
        int fd = ::open("/written", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK_INSIDE(fd >= 0, 25);
        ::close(fd);
        // A character device: Landlock refuses it (EACCES) before the
        // missing CAP_MKNOD would (EPERM).
        CHECK_INSIDE(::mknod("/null", S_IFCHR | 0600, makedev(1, 3)) != 0, 26);
        CHECK_INSIDE(errno == (landlock ? EACCES : EPERM), 27);
        return 0;
      },
      &err);
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(err.find("no Landlock") != std::string::npos, !landlock) << err;
  struct stat st {};
  EXPECT_EQ(::stat((dir.path + "/written").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4242u);
  // The host's mount table is untouched: nothing of the jail shows.
  std::ifstream mounts("/proc/self/mountinfo");
  std::stringstream all;
  all << mounts.rdbuf();
  EXPECT_EQ(all.str().find(dir.path), std::string::npos) << all.str();
}

// The supervisor outside the pid namespace ends as the jailed process did.
// (Its forwarding of SIGINT/SIGTERM is tested with amber itself: the vmm
// suite's Jail.* stop a jailed VM by signalling the outer amber.)
TEST(Jail, TheSupervisorPassesTheStatusOn) {
  REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  JailConfig cfg;
  cfg.dir = dir.path;
  std::string err;
  EXPECT_EQ(run_jailed(cfg, [] { return 42; }, &err), 42) << err;
  // Killed by a signal: 128 + its number, as a shell reports it.
  EXPECT_EQ(run_jailed(
                cfg,
                [] {
                  ::signal(SIGSEGV, SIG_DFL);  // gtest's handler is not wanted here
                  *static_cast<volatile int*>(nullptr) = 1;
                  return 0;
                },
                &err),
            128 + SIGSEGV)
      << err;
}

// The warm pool's workers keep their listening socket and pipes across the
// jail (cli/pool.h); every other inherited descriptor is closed.
TEST(Jail, OnlyTheDescriptorsAskedForAreKept) {
  REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  JailConfig cfg;
  cfg.dir = dir.path;
  int a[2], b[2], c[2];
  ASSERT_EQ(::pipe(a), 0);
  ASSERT_EQ(::pipe(b), 0);
  ASSERT_EQ(::pipe(c), 0);
  std::string err;
  int rc = run_jailed(
      cfg,
      [&]() -> int {
        CHECK_INSIDE(::fcntl(a[1], F_GETFD) >= 0, 10);
        CHECK_INSIDE(::fcntl(c[0], F_GETFD) >= 0, 11);
        CHECK_INSIDE(::fcntl(a[0], F_GETFD) < 0 && errno == EBADF, 12);
        CHECK_INSIDE(::fcntl(b[0], F_GETFD) < 0 && errno == EBADF, 13);
        CHECK_INSIDE(::fcntl(b[1], F_GETFD) < 0 && errno == EBADF, 14);
        CHECK_INSIDE(::fcntl(c[1], F_GETFD) < 0 && errno == EBADF, 15);
        CHECK_INSIDE(::write(a[1], "k", 1) == 1, 16);  // still the same pipe
        return 0;
      },
      &err, {c[0], a[1]});
  EXPECT_EQ(rc, 0) << err;
  char ch = 0;
  EXPECT_EQ(::read(a[0], &ch, 1), 1);
  EXPECT_EQ(ch, 'k');
  for (int fd : {a[0], a[1], b[0], b[1], c[0], c[1]}) ::close(fd);
}

TEST(Jail, SetUpErrorsAreClear) {
  REQUIRE_ROOT();
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  JailConfig cfg;
  cfg.dir = dir.path + "/missing";
  try {
    enter_jail(cfg);
    ADD_FAILURE() << "entered a missing directory";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--jail " + cfg.dir + ": No such file or directory");
  }
  std::ofstream(dir.path + "/file") << "x";
  cfg.dir = dir.path + "/file";
  try {
    enter_jail(cfg);
    ADD_FAILURE() << "entered a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos) << e.what();
  }
  // A non-device at dev/kvm is the user's: kept, and the jail refused.
  cfg.dir = dir.path;
  ::mkdir((dir.path + "/dev").c_str(), 0755);
  std::ofstream(dir.path + "/dev/kvm") << "not a device";
  std::string err;
  EXPECT_EQ(run_jailed(cfg, [] { return 0; }, &err), 1) << err;
  EXPECT_NE(err.find("dev/kvm exists and is not a device node"), std::string::npos) << err;
}

}  // namespace
}  // namespace amber::sandbox
