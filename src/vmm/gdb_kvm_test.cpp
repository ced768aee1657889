// The gdb stub (src/gdb, docs/debugging.md) end to end: the amber binary
// runs the gdbtarget bare-metal guest with --gdb, and Debian's gdb drives
// it in batch mode, as a kernel developer would: hardware and software
// breakpoints, registers, memory reads and writes, a watchpoint, single
// step, threads, continue to the guest's exit; then the same on a VM
// resumed from an image, and a save taken while gdb is attached.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/kvm_test_temp_dir.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace {

using namespace std::chrono_literals;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;
const std::string kElf = kBare + "/gdbtarget.elf";

std::string find_gdb() {
  if (const char* g = std::getenv("AMBER_GDB")) return g;
  for (const char* p : {"/usr/bin/gdb", "/usr/local/bin/gdb"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// The tests' temporary directories: amber-gdb-XXXXXX.
struct TempDir : amber::vmm::testing::TempDir {
  TempDir() : amber::vmm::testing::TempDir("amber-gdb") {}
};

// gdb -batch on the guest's symbols, connected to `socket`, running `cmds`.
lt::RunResult gdb_batch(const std::string& socket, const std::vector<std::string>& cmds) {
  std::vector<std::string> argv = {find_gdb(), "-nx", "-batch", "-ex", "set confirm off", kElf, "-ex",
                                   "target remote " + socket};
  for (auto& c : cmds) {
    argv.push_back("-ex");
    argv.push_back(c);
  }
  return lt::run(argv, 120s);
}

// The values gdb printed for `print` commands ("$N = V"), in order.
std::vector<std::string> printed(const std::string& out) {
  std::vector<std::string> v;
  std::regex re(R"(\$\d+ = (\S+))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
    v.push_back((*it)[1]);
  return v;
}

#define REQUIRE_GDB()                                                                         \
  if (find_gdb().empty()) GTEST_SKIP() << "no gdb here (tools/setup.sh installs Debian's gdb; " \
                                          "the sandbox carries it): the stub is untested";

// Waits until amber says where the stub listens (it does so before the vCPUs start).
bool wait_listening(lt::Process& vm, const std::string& socket) {
  for (int i = 0; i < 600 && !std::filesystem::exists(socket); ++i) usleep(50'000);
  return std::filesystem::exists(socket) || (ADD_FAILURE() << vm.transcript(), false);
}

TEST(GdbStub, BreakpointsRegistersMemoryStepAndContinueToExit) {
  REQUIRE_GDB();
  TempDir dir;
  std::string sock = dir.path + "/gdb.sock";
  lt::Process vm({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--cpus", "2", "--debug-exit", "--gdb",
                  "unix:" + sock, "--gdb-wait"});
  ASSERT_TRUE(wait_listening(vm, sock));
  auto g = gdb_batch(sock, {
      "info threads",                      // two vCPUs: two threads
      "print/x $rip",                      // 1: stopped before the first instruction
      "hbreak after_store",
      "continue",
      "print/x $rip",                      // 2: at after_store
      "print $rbx",                        // 3: 1
      "continue",
      "print $rbx",                        // 4: 2
      "print *(long*)&counter",            // 5: 2, read through the page tables
      "stepi",
      "print/x $rip",                      // 6: the jb after the cmp
      "delete",
      "watch *(long*)&counter",            // a write watchpoint (Z2)
      "continue",
      "print *(long*)&counter",            // 7: 3 (stopped after the store)
      "delete",
      "print/x $cr0",                      // 8: paging and protection on
      "print/x $fs_base",                  // 9: segment bases are described
      "set var *(long*)&limit = 5",
      "break exit_path",                   // a software breakpoint (Z0, int3)
      "continue",
      "print $rbx",                        // 10: 5
      "set var *(int*)&exit_code = 21",
      "delete",
      "continue",
  });
  EXPECT_EQ(g.status, lt::ExitStatus::exited(0)) << g.transcript();
  auto v = printed(g.out);
  ASSERT_EQ(v.size(), 10u) << g.transcript();
  EXPECT_EQ(v[0], "0x100000") << "--gdb-wait: no instruction ran";
  EXPECT_EQ(v[1], "0x100018") << "after_store";
  EXPECT_EQ(v[2], "1");
  EXPECT_EQ(v[3], "2");
  EXPECT_EQ(v[4], "2");
  EXPECT_EQ(v[5], "0x10001f") << "one instruction further";
  EXPECT_EQ(v[6], "3");
  EXPECT_EQ(std::stoull(v[7], nullptr, 16) & 0x80000001ull, 0x80000001ull);
  EXPECT_EQ(v[8], "0x0");
  EXPECT_EQ(v[9], "5");
  EXPECT_NE(g.out.find("Thread 2"), std::string::npos) << "one gdb thread per vCPU\n" << g.transcript();
  EXPECT_NE(g.out.find("Hardware watchpoint"), std::string::npos) << g.transcript();
  EXPECT_NE(g.out.find("exited with code 053"), std::string::npos) << "(21 << 1) | 1 = 43\n" << g.transcript();
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(43)) << vm.transcript();
}

TEST(GdbStub, AResumedImageIsDebuggedTheSameWayAndASaveUnderGdbHoldsNoBreakpoints) {
  REQUIRE_GDB();
  TempDir dir;
  std::string img = dir.path + "/vm.amber", img2 = dir.path + "/under-gdb.amber";
  auto boot = lt::run({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--debug-exit", "--save-on-serial", "ready",
                       "--save", img},
                      120s);
  ASSERT_EQ(boot.status, lt::ExitStatus::exited(0)) << boot.transcript();

  std::string sock = dir.path + "/gdb.sock", api = dir.path + "/api.sock";
  lt::Process vm({kAmber, "resume", img, "--gdb", "unix:" + sock, "--gdb-wait", "--api", api});
  ASSERT_TRUE(wait_listening(vm, sock));
  auto g = gdb_batch(sock, {
      "hbreak after_store",
      "continue",
      "print $rbx > 0",                    // 1: the resumed guest counts on
      "print $rbx == *(long*)&counter",    // 2
      "delete",
      // With the int3 kept in RAM while stopped, a save must still hold the
      // guest's byte: the image is resumed below without gdb and must exit.
      "set breakpoint always-inserted on",
      "set var *(long*)&limit = *(long*)&counter + 2",
      "break exit_path",
      "shell " + kAmber + " ctl " + api + " save path=" + img2 + " then=continue",
      "continue",
      "print $pc == exit_path",            // 3: the software breakpoint works
      "delete",
      "continue",
  });
  EXPECT_EQ(g.status, lt::ExitStatus::exited(0)) << g.transcript();
  auto v = printed(g.out);
  ASSERT_EQ(v.size(), 3u) << g.transcript();
  EXPECT_EQ(v[0], "1");
  EXPECT_EQ(v[1], "1");
  EXPECT_EQ(v[2], "1");
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(15)) << "exit_code 7: (7 << 1) | 1\n" << vm.transcript();

  // The image saved under gdb: no int3 at exit_path, so the guest ends cleanly.
  auto again = lt::run({kAmber, "resume", img2}, 120s);
  EXPECT_EQ(again.status, lt::ExitStatus::exited(15)) << again.transcript();
}

TEST(GdbStub, DetachingLeavesTheGuestRunningWithoutBreakpoints) {
  REQUIRE_GDB();
  TempDir dir;
  std::string sock = dir.path + "/gdb.sock";
  lt::Process vm({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--debug-exit", "--gdb", "unix:" + sock,
                  "--gdb-wait"});
  ASSERT_TRUE(wait_listening(vm, sock));
  // A breakpoint set and left in place when gdb detaches must not stop or
  // crash the guest afterwards (it would #BP into a guest with no IDT).
  auto g = gdb_batch(sock, {"set var *(long*)&limit = 1000", "set breakpoint always-inserted on", "break exit_path", "detach"});
  EXPECT_EQ(g.status, lt::ExitStatus::exited(0)) << g.transcript();
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(15)) << vm.transcript();
}

// The issue's own recipe over TCP: `amber run --bare counter.bin --gdb PORT
// --gdb-wait`, gdb with no symbols, `hbreak *ADDR`, continue, `info
// registers rip`. Port 0 lets amber pick a free one and say which.
TEST(GdbStub, CounterOverTcpWithTheIssuesRecipe) {
  REQUIRE_GDB();
  lt::Process vm({kAmber, "run", "--bare", kBare + "/counter.bin", "--gdb", "0", "--gdb-wait"});
  std::smatch m;
  std::regex re(R"(gdb stub on 127\.0\.0\.1:(\d+))");
  std::string err;
  for (int i = 0; i < 600; ++i, usleep(50'000))
    if (err = vm.err(); std::regex_search(err, m, re)) break;
  ASSERT_FALSE(m.empty()) << vm.transcript();
  // 0x10000c: counter.S's `loop`, after the 12-byte movq that zeroes the
  // counter. 127.0.0.1, not ":PORT": the sandbox resolves no host names.
  auto g = lt::run({find_gdb(), "-nx", "-batch", "-ex", "target remote 127.0.0.1:" + m[1].str(), "-ex", "hbreak *0x10000c",
                    "-ex", "c", "-ex", "info registers rip", "-ex", "x/1gx 0x300000", "-ex", "kill"},
                   120s);
  EXPECT_EQ(g.status, lt::ExitStatus::exited(0)) << g.transcript();
  EXPECT_NE(g.out.find("rip            0x10000c"), std::string::npos) << g.transcript();
  EXPECT_NE(g.out.find("0x300000:\t0x0000000000000000"), std::string::npos) << "the counter, zeroed\n" << g.transcript();
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(0)) << "gdb's kill ends amber\n" << vm.transcript() << g.transcript();
}

// A raw client of the stub's unix socket: -1 when it cannot connect.
int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// What arrives on `fd` within `timeout_ms`, until `until` is seen or the
// peer closes; `closed` tells which.
std::string read_for(int fd, int timeout_ms, const std::string& until, bool* closed) {
  std::string got;
  *closed = false;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got.find(until) == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    got.append(buf, size_t(n));
  }
  return got;
}

// One debugger at a time: a second one used to wait in the listen backlog
// until the first left; now it is turned away at once, and the first goes on.
TEST(GdbStub, ASecondDebuggerIsTurnedAwayWhileOneIsAttached) {
  TempDir dir;
  std::string sock = dir.path + "/gdb.sock";
  lt::Process vm({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--debug-exit", "--gdb", "unix:" + sock,
                  "--gdb-wait"});
  ASSERT_TRUE(wait_listening(vm, sock));
  int first = connect_unix(sock);
  ASSERT_GE(first, 0) << std::strerror(errno);
  // "?": why the target stopped; the answer shows the stub is attached.
  ASSERT_EQ(::send(first, "$?#3f", 5, MSG_NOSIGNAL), 5);
  bool closed;
  std::string answer = read_for(first, 30'000, "#", &closed);
  ASSERT_NE(answer.find('$'), std::string::npos) << answer << "\n" << vm.transcript();

  int second = connect_unix(sock);
  ASSERT_GE(second, 0) << std::strerror(errno);
  std::string got = read_for(second, 10'000, "\x01", &closed);  // nothing is expected but the close
  EXPECT_TRUE(closed) << "the second debugger was not turned away within 10 s (got '" << got << "')";
  ::close(second);

  // The first debugger still drives the VM: kill ends amber.
  ASSERT_EQ(::send(first, "$k#6b", 5, MSG_NOSIGNAL), 5);
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(0)) << vm.transcript();
  ::close(first);
  EXPECT_NE(vm.err().find("another debugger connected and was refused"), std::string::npos) << vm.transcript();
}

TEST(GdbStub, BadEndpointsFailBeforeTheGuestStarts) {
  auto r = lt::run({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--gdb", "unix:/nonexistent-dir/x.sock"}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  EXPECT_NE(r.err.find("--gdb: binding unix socket /nonexistent-dir/x.sock"), std::string::npos) << r.transcript();
  r = lt::run({kAmber, "run", "--bare", kBare + "/gdbtarget.bin", "--gdb", "http"}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(2)) << r.transcript();
}

}  // namespace
