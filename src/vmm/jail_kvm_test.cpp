// Issue 17 item 3: `amber run|resume --jail DIR` (src/sandbox/jail.h) end to
// end on bare-metal guests. The jailed amber (the child of the amber the
// test starts, which stays outside the pid namespace) runs as 65534 under
// its seccomp filters, in mount, pid, net, ipc and uts namespaces of its
// own, with DIR as its root; paths on its command line are paths inside DIR,
// so a file only outside DIR is not found, and a save lands in DIR.
//
// The jail needs root. The KVM suites run as root (CI, the sandbox); a run
// as anyone else fails these tests with the reason, never passes them.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/kvm_test_temp_dir.h"
#include "vmm/proc_children.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;
constexpr uid_t kNobody = 65534;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The value of `key:` in /proc/PID/status, trailing spaces cut ("" when missing).
std::string status_field(pid_t pid, const std::string& key) {
  std::istringstream status(read_text("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key + ":\t", 0) == 0) {
      std::string v = line.substr(key.size() + 2);
      while (!v.empty() && v.back() == ' ') v.pop_back();  // "Groups:\t \n" when there are none
      return v;
    }
  return {};
}

// The jailed amber: the child of `parent` (scanning /proc for its PPid),
// waiting up to 30 s for it; -1 if none appeared.
pid_t child_of(pid_t parent) {
  auto end = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < end) {
    for (auto& e : fs::directory_iterator("/proc")) {
      std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = std::stoi(name);
      if (status_field(pid, "PPid") == std::to_string(parent)) return pid;
    }
    std::this_thread::sleep_for(100ms);
  }
  return -1;
}

// "No such file or directory" (strerror) or amber's own "no such file".
bool says_not_found(const std::string& err) {
  std::string lower = err;
  for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("no such file") != std::string::npos;
}

std::string ns_of(const std::string& proc, const char* ns) {
  char buf[128] = {};
  ssize_t n = ::readlink((proc + "/ns/" + ns).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : "(" + std::string(ns) + ": unreadable)";
}

// A jail directory: the guest binaries the tests run copied in, owned by the
// jail user (who writes the image and the API socket there).
struct JailDir : amber::vmm::testing::TempDir {
  JailDir() : amber::vmm::testing::TempDir("amber-jail") {
    if (path.empty()) return;
    for (const char* bin : {"hello.bin", "idle.bin", "saveexit.bin"})
      fs::copy_file(kBare + "/" + bin, path + "/" + bin, fs::copy_options::overwrite_existing);
    if (::chown(path.c_str(), kNobody, kNobody) != 0 || ::chmod(path.c_str(), 0755) != 0) path.clear();
  }
};

#define REQUIRE_ROOT()                                                                                        \
  do {                                                                                                        \
    if (::geteuid() != 0)                                                                                     \
      FAIL() << "!!! --jail needs root (namespaces, mounts, mknod); this suite runs as root in CI and the "   \
             << "sandbox (tools/test.sh --suite vmm@sandbox), this run is uid " << ::geteuid();                \
  } while (0)

TEST(Jail, BareGuestEndsNormallyInTheJail) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  auto r = lt::run({kAmber, "run", "--bare", "/hello.bin", "--jail", dir.path}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0)) << r.transcript();
  EXPECT_NE(r.out.find("Hello from a bare-metal amber guest"), std::string::npos) << r.transcript();
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.transcript();
  // The device node the jail made for its user: not the host's inode.
  struct stat kvm {};
  ASSERT_EQ(::stat((dir.path + "/dev/kvm").c_str(), &kvm), 0);
  EXPECT_TRUE(S_ISCHR(kvm.st_mode));
  EXPECT_EQ(kvm.st_mode & 07777, 0660u);
  EXPECT_EQ(kvm.st_uid, kNobody);
  EXPECT_EQ(kvm.st_gid, kNobody);
  struct stat host {};
  ASSERT_EQ(::stat("/dev/kvm", &host), 0);
  EXPECT_EQ(kvm.st_rdev, host.st_rdev);
}

TEST(Jail, TheJailedAmberRunsAsNobodyFilteredInItsOwnNamespacesRootedInDir) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  // --api /api.sock: inside the jail, so DIR/api.sock from here.
  lt::Process vm({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path, "--api", "/api.sock"});
  ASSERT_TRUE(vm.expect("resumed and idle", 60s));
  pid_t jailed = child_of(vm.pid());
  ASSERT_GT(jailed, 0) << "no child of the amber outside the jail" << vm.transcript();
  std::string proc = "/proc/" + std::to_string(jailed);
  EXPECT_EQ(status_field(jailed, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(jailed, "Gid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(status_field(jailed, "Groups"), "");
  EXPECT_EQ(status_field(jailed, "Seccomp"), "2");
  EXPECT_EQ(status_field(jailed, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(jailed, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_field(jailed, "CapPrm"), "0000000000000000");
  // Its pid as the jail sees it: the init of its own pid namespace.
  EXPECT_EQ(status_field(jailed, "NSpid"), std::to_string(jailed) + "\t1");
  for (const char* ns : {"mnt", "pid", "net", "ipc", "uts"})
    EXPECT_NE(ns_of(proc, ns), ns_of("/proc/self", ns)) << ns << " namespace shared with the host";
  // The parent stays in the host's pid namespace (it only waits).
  EXPECT_EQ(ns_of("/proc/" + std::to_string(vm.pid()), "pid"), ns_of("/proc/self", "pid"));
  // Its root is DIR. (The link's text is "/": the jail's root mount has no
  // path in this namespace; the inode is what tells.)
  struct stat root {}, d {};
  ASSERT_EQ(::stat((proc + "/root/.").c_str(), &root), 0) << std::strerror(errno);
  ASSERT_EQ(::stat(dir.path.c_str(), &d), 0);
  EXPECT_EQ(root.st_dev, d.st_dev);
  EXPECT_EQ(root.st_ino, d.st_ino);
  EXPECT_TRUE(fs::exists(proc + "/root/idle.bin"));
  EXPECT_FALSE(fs::exists(proc + "/root" + dir.path)) << "the host's tree is visible from the jail";
  // The control socket, made inside the jail, answers from the host.
  auto status = lt::run({kAmber, "ctl", dir.path + "/api.sock", "status"}, 30s);
  EXPECT_EQ(status.status, lt::ExitStatus::exited(0)) << status.transcript();
  // SIGTERM to the amber outside is passed on: the VM stops as unjailed.
  ASSERT_TRUE(vm.signal(SIGTERM));
  EXPECT_EQ(vm.wait(30s), lt::ExitStatus::exited(130)) << vm.transcript();
  EXPECT_EQ(vm.err().find("seccomp"), std::string::npos) << vm.transcript();
  // For the log: whether this kernel gave the jail its Landlock layer.
  bool no_landlock = vm.err().find("this kernel has no Landlock") != std::string::npos;
  std::cout << "[   INFO   ] Landlock: " << (no_landlock ? "not supported by this kernel (note printed)" : "active")
            << "\n";
}

// The line of /proc/PID/limits for `name` ("Max open files"), spaces squeezed.
std::string limit_line(pid_t pid, const std::string& name) {
  std::istringstream limits(read_text("/proc/" + std::to_string(pid) + "/limits"));
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind(name, 0) != 0) continue;
    std::istringstream words(line.substr(name.size()));
    std::string w, out;
    while (words >> w) out += (out.empty() ? "" : " ") + w;
    return out;
  }
  return {};
}

// A cgroup v2 directory of our own: under a cgroup2 mount there is, else
// under one mounted for the test; removed (and unmounted) afterwards.
struct TestCgroup {
  std::string path, mounted;
  amber::vmm::testing::TempDir mnt{"amber-jail-cg"};
  std::string error;
  TestCgroup() {
    std::string base;
    std::istringstream mi(read_text("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(mi, line)) {
      // "... MOUNTPOINT OPTS ... - cgroup2 SOURCE SUPER"
      auto dash = line.find(" - cgroup2 ");
      if (dash == std::string::npos) continue;
      std::istringstream f(line);
      std::string a, b, c, d, mp;
      f >> a >> b >> c >> d >> mp;
      base = mp;
      break;
    }
    if (base.empty()) {
      if (mnt.path.empty() || ::mount("cgroup2", mnt.path.c_str(), "cgroup2", 0, nullptr) != 0) {
        error = std::string("no cgroup2 mount and none could be made: ") + std::strerror(errno);
        return;
      }
      base = mounted = mnt.path;
    }
    std::string p = base + "/amber-jail-test-" + std::to_string(::getpid());
    if (::mkdir(p.c_str(), 0755) != 0) {
      error = "mkdir " + p + ": " + std::strerror(errno);
      return;
    }
    path = p;
  }
  ~TestCgroup() {
    if (!path.empty()) ::rmdir(path.c_str());
    if (!mounted.empty()) ::umount2(mounted.c_str(), MNT_DETACH);
  }
};

TEST(Jail, JoinsTheCgroupGivenAndSetsItsLimits) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  TestCgroup cg;
  ASSERT_FALSE(cg.path.empty()) << cg.error;
  lt::Process vm({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path, "--jail-cgroup", cg.path,
                  "--jail-limit", "nofile=256,fsize=64M", "--jail-limit", "as=8G"});
  ASSERT_TRUE(vm.expect("resumed and idle", 60s));
  pid_t jailed = child_of(vm.pid());
  ASSERT_GT(jailed, 0) << vm.transcript();
  // The jailed amber, by its host pid; the parent stays out. KVM's kernel
  // threads for the VM (kvm-nx-lpage-recovery-PID) join the cgroup of the
  // process that made the VM, as they should; nothing else is there.
  std::string procs = read_text(cg.path + "/cgroup.procs");
  std::istringstream list(procs);
  bool found = false;
  for (std::string p; list >> p;) {
    if (p == std::to_string(jailed)) {
      found = true;
      continue;
    }
    EXPECT_NE(p, std::to_string(vm.pid())) << "the amber outside the jail joined the cgroup";
    EXPECT_EQ(status_field(std::stoi(p), "PPid"), "2")
        << "process " << p << " (" << status_field(std::stoi(p), "Name") << ") in " << cg.path;
  }
  EXPECT_TRUE(found) << "the jailed amber " << jailed << " is not in " << cg.path << ": " << procs;
  EXPECT_EQ(limit_line(jailed, "Max open files"), "256 256 files");
  EXPECT_EQ(limit_line(jailed, "Max file size"), std::to_string(64ull << 20) + " " + std::to_string(64ull << 20) + " bytes");
  EXPECT_EQ(limit_line(jailed, "Max address space"), std::to_string(8ull << 30) + " " + std::to_string(8ull << 30) + " bytes");
  EXPECT_EQ(limit_line(jailed, "Max core file size"), "0 0 bytes");
  ASSERT_TRUE(vm.signal(SIGTERM));
  EXPECT_EQ(vm.wait(30s), lt::ExitStatus::exited(130)) << vm.transcript();

  // Without --jail-limit: 1024 descriptors, no core files, the rest as inherited.
  lt::Process plain({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path});
  ASSERT_TRUE(plain.expect("resumed and idle", 60s));
  jailed = child_of(plain.pid());
  ASSERT_GT(jailed, 0) << plain.transcript();
  EXPECT_EQ(limit_line(jailed, "Max open files"), "1024 1024 files");
  EXPECT_EQ(limit_line(jailed, "Max core file size"), "0 0 bytes");
  ASSERT_TRUE(plain.signal(SIGINT));
  EXPECT_EQ(plain.wait(30s), lt::ExitStatus::exited(130)) << plain.transcript();
}

TEST(Jail, PathsOutsideTheJailAreNotFound) {
  REQUIRE_ROOT();
  JailDir dir;
  amber::vmm::testing::TempDir outside("amber-jail-outside");
  ASSERT_FALSE(dir.path.empty());
  ASSERT_FALSE(outside.path.empty());
  std::string disk = outside.path + "/disk.img";
  { std::ofstream(disk) << std::string(1 << 20, '\0'); }
  ::chmod(outside.path.c_str(), 0777);
  ::chmod(disk.c_str(), 0666);  // readable and writable by anyone: only the jail keeps it out of reach
  auto r = lt::run({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path, "--disk", disk}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_NE(r.err.find(disk), std::string::npos) << r.transcript();
  EXPECT_TRUE(says_not_found(r.err)) << r.transcript();
  // The guest binary by its host path.
  r = lt::run({kAmber, "run", "--bare", dir.path + "/hello.bin", "--jail", dir.path}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_TRUE(says_not_found(r.err)) << r.transcript();
  // A save into a directory that exists only outside: idle.bin asks for it
  // at once; with --then exit a failed save ends amber with status 1.
  std::string img = outside.path + "/vm.amber";
  r = lt::run({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path, "--save", img}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_NE(r.err.find("save failed"), std::string::npos) << r.transcript();
  EXPECT_TRUE(says_not_found(r.err)) << r.transcript();
  EXPECT_FALSE(fs::exists(img));
}

TEST(Jail, ASaveLandsInDirAndResumesJailed) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  // saveexit: asks for a save, then ends amber through debug-exit (0x55).
  auto r = lt::run({kAmber, "run", "--bare", "/saveexit.bin", "--debug-exit", "--jail", dir.path, "--save",
                    "/vm.amber", "--then", "continue"},
                   60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  std::string img = dir.path + "/vm.amber";
  struct stat st {};
  ASSERT_EQ(::stat(img.c_str(), &st), 0) << r.transcript();
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_FALSE(fs::exists("/vm.amber") && !fs::equivalent("/vm.amber", img)) << "the save went to the host's /";
  auto verify = lt::run({kAmber, "verify", img}, 60s);
  EXPECT_EQ(verify.status, lt::ExitStatus::exited(0)) << verify.transcript();
  // Resumed jailed again, by its path inside the jail.
  r = lt::run({kAmber, "resume", "/vm.amber", "--jail", dir.path}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.transcript();
}

// A compressed image resumes jailed too, its RAM lazily: the userfaultfd
// is made as root just before the drop to the jail user (no fallback line;
// docs/image-format.md "Lazy restore of a zstd region").
TEST(Jail, ACompressedImageResumesJailed) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  auto r = lt::run({kAmber, "run", "--bare", "/saveexit.bin", "--debug-exit", "--jail", dir.path, "--save",
                    "/vm.amber", "--compress", "--then", "continue"},
                   60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  ASSERT_TRUE(fs::exists(dir.path + "/vm.amber")) << r.transcript();
  r = lt::run({kAmber, "resume", "/vm.amber", "--jail", dir.path}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.transcript();
  EXPECT_EQ(r.err.find("decompressed before the guest starts"), std::string::npos) << r.transcript();
}

// Issue 17's start cost off the resume path: `amber pool --jail DIR`
// (docs/pool.md). Each worker jails itself before it makes its warm VM; a
// resume handed to it runs as 65534 under its filters in the jail's
// namespaces, and resolves the request's paths inside DIR.
TEST(Jail, APoolOfJailedWorkersResumesImagesInsideDir) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  amber::vmm::testing::TempDir outside("amber-jail-pool");
  ASSERT_FALSE(outside.path.empty());
  auto r = lt::run({kAmber, "run", "--bare", "/idle.bin", "--jail", dir.path, "--save", "/idle.amber"}, 60s);
  ASSERT_EQ(r.status, lt::ExitStatus::exited(0)) << r.transcript();
  r = lt::run({kAmber, "run", "--bare", "/saveexit.bin", "--debug-exit", "--jail", dir.path, "--save", "/vm.amber",
               "--then", "continue"},
              60s);
  ASSERT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();

  std::string sock = outside.path + "/pool.sock";
  std::this_thread::sleep_for(1100ms);  // a check vouches only for a file a second old (checked_images.h)
  lt::Process pool({kAmber, "pool", sock, "--size", "1", "--like", dir.path + "/idle.amber", "--jail", dir.path});
  for (int i = 0; i < 1200 && pool.err().find("ready") == std::string::npos && pool.running(); ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_NE(pool.err().find("ready: 1 warm VM of 1 vCPU, 256 MiB"), std::string::npos) << pool.transcript();
  {
    lt::Process client({kAmber, "resume", "/idle.amber", "--pool", sock, "--verbose"});
    ASSERT_TRUE(client.expect("resumed and idle", 60s));
    // The pool checked its --like image once (it is a second old, so its
    // identity stands): the jailed worker, with no check records of its
    // own, does not read its runs again.
    EXPECT_NE(client.err().find("RAM runs not read: a check record vouches"), std::string::npos)
        << client.transcript();
    // The busy worker: the one whose jailed process loaded its filters.
    pid_t jailed = -1;
    for (pid_t w : amber::vmm::testing::children_of(pool.pid()))
      for (pid_t c : amber::vmm::testing::children_of(w))
        if (status_field(c, "Seccomp") == "2") jailed = c;
    ASSERT_GT(jailed, 0) << "no jailed worker runs the VM" << pool.transcript();
    EXPECT_EQ(status_field(jailed, "Uid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(status_field(jailed, "CapEff"), "0000000000000000");
    EXPECT_EQ(status_field(jailed, "NSpid"), std::to_string(jailed) + "\t1");
    std::string proc = "/proc/" + std::to_string(jailed);
    for (const char* ns : {"mnt", "pid", "net"})
      EXPECT_NE(ns_of(proc, ns), ns_of("/proc/self", ns)) << ns << " namespace shared with the host";
    struct stat root {}, d {};
    ASSERT_EQ(::stat((proc + "/root/.").c_str(), &root), 0) << std::strerror(errno);
    ASSERT_EQ(::stat(dir.path.c_str(), &d), 0);
    EXPECT_EQ(root.st_ino, d.st_ino) << "the worker's root is not DIR";
    ASSERT_TRUE(client.signal(SIGTERM));
    client.wait(30s);
  }
  // A path inside the jail resumes (the host has no /vm.amber); the host's
  // path of the same file is not found inside it.
  ASSERT_FALSE(fs::exists("/vm.amber"));
  r = lt::run({kAmber, "resume", "/vm.amber", "--pool", sock, "--verbose"}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.transcript();
  // Not the --like image: its runs are read in the jail (no records there).
  EXPECT_NE(r.err.find("RAM runs read and compared with their checksums"), std::string::npos) << r.transcript();
  r = lt::run({kAmber, "resume", dir.path + "/vm.amber", "--pool", sock}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_TRUE(says_not_found(r.err)) << r.transcript();
  ASSERT_TRUE(pool.signal(SIGTERM));
  EXPECT_EQ(pool.wait(60s), lt::ExitStatus::exited(0)) << pool.transcript();
  EXPECT_NE(pool.err().find("3 resumes served"), std::string::npos) << pool.transcript();
}

// Setup errors are one line and exit status 1; option errors are usage
// errors (2). Before any namespace exists, so nothing needs cleaning up.
TEST(Jail, ErrorsAreOneClearLine) {
  REQUIRE_ROOT();
  JailDir dir;
  ASSERT_FALSE(dir.path.empty());
  auto r = lt::run({kAmber, "run", "--bare", "/hello.bin", "--jail", dir.path + "/missing"}, 30s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_EQ(r.err, "amber: error: --jail " + dir.path + "/missing: No such file or directory\n");
  r = lt::run({kAmber, "run", "--bare", "/hello.bin", "--jail", dir.path, "--jail-cgroup", dir.path}, 30s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_NE(r.err.find("--jail-cgroup " + dir.path + ": cannot open " + dir.path + "/cgroup.procs"),
            std::string::npos)
      << r.transcript();
  r = lt::run({kAmber, "run", "--bare", "/hello.bin", "--jail", dir.path, "--jail-user", "nobody"}, 30s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(2)) << r.transcript();
  r = lt::run({kAmber, "run", "--bare", "/hello.bin", "--jail-user", "1000"}, 30s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(2)) << r.transcript();
  // Not root: refused before anything is set up.
  std::string log = dir.path + "/log";
  int rc = lt::run_as(kNobody, {kAmber, "run", "--bare", "/hello.bin", "--jail", dir.path}, "", log, 30s);
  std::string out = read_text(log);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("amber: error: --jail needs root"), std::string::npos) << out;
}

}  // namespace
