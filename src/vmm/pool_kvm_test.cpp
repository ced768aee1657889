// amber pool and amber resume --pool end to end on bare-metal guests (issue
// 12 goal 2, docs/pool.md): a resume handed to a warm VM behaves as a plain
// one, the pool refills itself, a client that goes away stops its VM, and
// bad requests get clear answers.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/kvm_test_temp_dir.h"
#include "vmm/proc_children.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace {

using namespace std::chrono_literals;
using amber::vmm::testing::wait_for_children;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;

struct TempDir : amber::vmm::testing::TempDir {
  TempDir() : amber::vmm::testing::TempDir("amber-pool") {}
};

// Waits until the pool's stderr holds `text`.
bool wait_for_err(lt::Process& p, const std::string& text, std::chrono::seconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (p.err().find(text) != std::string::npos) return true;
    if (!p.running()) return p.err().find(text) != std::string::npos;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// saveexit asks for its save, and its resume ends amber through debug-exit
// with status 0x55: a resume's exit status passes through the pool.
std::string save_saveexit(const TempDir& dir, const std::string& mem = "") {
  std::string img = dir.path + "/saveexit" + mem + ".amber";
  std::vector<std::string> argv = {kAmber, "run", "--bare", kBare + "/saveexit.bin", "--debug-exit", "--save", img};
  if (!mem.empty()) argv.insert(argv.end(), {"--mem", mem});
  auto r = lt::run(argv, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0)) << r.transcript();
  return img;
}

TEST(Pool, AResumeThroughTheWarmVmsBehavesAsAPlainOneAndThePoolRefills) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = save_saveexit(dir), sock = dir.path + "/pool.sock";
  auto plain = lt::run({kAmber, "resume", img}, 60s);
  ASSERT_EQ(plain.status, lt::ExitStatus::exited(0x55)) << plain.transcript();

  lt::Process pool({kAmber, "pool", sock, "--size", "2", "--like", img});
  ASSERT_TRUE(wait_for_err(pool, "ready: 2 warm VMs of 1 vCPU, 256 MiB", 120s)) << pool.transcript();
  for (int i = 0; i < 3; ++i) {
    // Relative to the client's working directory: the worker takes it over.
    auto r = lt::run({"/bin/sh", "-c", "cd \"$0\" && exec \"$1\" resume saveexit.amber --pool pool.sock --timings",
                      dir.path, kAmber},
                     60s);
    EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
    EXPECT_EQ(r.out, plain.out) << r.transcript();
    EXPECT_NE(r.err.find("amber: timings: pool hand-over"), std::string::npos) << r.transcript();
    EXPECT_EQ(r.err.find("does not fit"), std::string::npos) << "the warm VM was not used: " << r.transcript();
    // Each worker serves one resume and is replaced: two warm ones again.
    EXPECT_TRUE(wait_for_children(pool.pid(), 2, 60s)) << pool.transcript();
  }
  ASSERT_TRUE(pool.signal(SIGTERM));
  EXPECT_EQ(pool.wait(60s), lt::ExitStatus::exited(0)) << pool.transcript();
  EXPECT_NE(pool.err().find("3 resumes served"), std::string::npos) << pool.transcript();
  EXPECT_NE(::access(sock.c_str(), F_OK), 0) << "the pool left its socket behind";
}

// A warm VM fits one shape; another image still resumes there, in a VM made
// on demand, and --timings says so.
TEST(Pool, AnImageOfAnotherShapeResumesInANewVm) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = save_saveexit(dir, "128M"), sock = dir.path + "/pool.sock";
  lt::Process pool({kAmber, "pool", sock, "--size", "1"});
  ASSERT_TRUE(wait_for_err(pool, "ready: 1 warm VM of 1 vCPU, 256 MiB", 120s)) << pool.transcript();
  auto r = lt::run({kAmber, "resume", img, "--pool", sock, "--timings"}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  EXPECT_NE(r.err.find("the warm VM does not fit this image (the image has 128 MiB of RAM, the warm VM 256 MiB)"),
            std::string::npos)
      << r.transcript();
}

// The client's connection is the VM's lifeline: killing `amber resume
// --pool` stops the VM it asked for, as a signal stops a plain resume.
TEST(Pool, AClientThatGoesAwayStopsItsVm) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = dir.path + "/idle.amber", sock = dir.path + "/pool.sock";
  auto boot = lt::run({kAmber, "run", "--bare", kBare + "/idle.bin", "--save", img}, 60s);
  ASSERT_EQ(boot.status, lt::ExitStatus::exited(0)) << boot.transcript();
  lt::Process pool({kAmber, "pool", sock, "--size", "1", "--like", img});
  ASSERT_TRUE(wait_for_err(pool, "ready: 1 warm VM", 120s)) << pool.transcript();
  {
    lt::Process client({kAmber, "resume", img, "--pool", sock});
    ASSERT_TRUE(client.expect("resumed and idle", 60s));
    ASSERT_TRUE(wait_for_children(pool.pid(), 2, 60s)) << "the busy worker and its replacement" << pool.transcript();
    ASSERT_TRUE(client.signal(SIGKILL));
    client.wait(30s);
  }
  EXPECT_TRUE(wait_for_children(pool.pid(), 1, 30s)) << "the VM of a client that went away still runs"
                                                      << pool.transcript();
}

// A resume that ends on a fatal path (here a forbidden system call, through
// the seccomp test hook the workers inherit from the pool's environment)
// still answers its exit status: 159, as `amber resume` would exit.
TEST(Pool, AResumeEndedByAForbiddenCallAnswersItsExitStatus) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = save_saveexit(dir), sock = dir.path + "/pool.sock";
  lt::Process pool({kAmber, "pool", sock, "--size", "1", "--like", img},
                   {"", {{"AMBER_TEST_FORBIDDEN_SYSCALL", "vcpu"}}});
  ASSERT_TRUE(wait_for_err(pool, "ready: 1 warm VM", 120s)) << pool.transcript();
  auto r = lt::run({kAmber, "resume", img, "--pool", sock}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(159)) << r.transcript();
  EXPECT_NE(r.err.find("made forbidden system call mount"), std::string::npos) << r.transcript();
  EXPECT_EQ(r.err.find("without an exit status"), std::string::npos) << r.transcript();
}

// Requests that are not amber's, and a client with no pool: clear errors,
// and the pool goes on serving.
TEST(Pool, BadRequestsAreAnsweredAndThePoolGoesOn) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = save_saveexit(dir), sock = dir.path + "/pool.sock";
  auto none = lt::run({kAmber, "resume", img, "--pool", dir.path + "/nothing.sock"}, 60s);
  EXPECT_EQ(none.status, lt::ExitStatus::exited(1)) << none.transcript();
  EXPECT_NE(none.err.find("no pool there"), std::string::npos) << none.transcript();
  auto jailed = lt::run({kAmber, "resume", img, "--pool", sock, "--jail", dir.path}, 60s);
  EXPECT_EQ(jailed.status, lt::ExitStatus::exited(2)) << jailed.transcript();

  // A file that is not a socket is never replaced; a socket nobody listens
  // on (a pool that was killed) is.
  std::string file = dir.path + "/file";
  { std::ofstream(file) << "mine"; }
  auto refused = lt::run({kAmber, "pool", file, "--size", "1"}, 60s);
  EXPECT_EQ(refused.status, lt::ExitStatus::exited(1)) << refused.transcript();
  EXPECT_NE(refused.err.find("exists and is not a socket"), std::string::npos) << refused.transcript();
  {
    int stale = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
    ::close(stale);
  }
  lt::Process pool({kAmber, "pool", sock, "--size", "1", "--like", img});
  ASSERT_TRUE(wait_for_err(pool, "ready: 1 warm VM", 120s)) << pool.transcript();
  // Garbage without descriptors: answered with an error, the worker replaced.
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  const char junk[] = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::send(s, junk, sizeof junk - 1, 0), ssize_t(sizeof junk - 1));
  char buf[512] = {};
  ssize_t n = ::recv(s, buf, sizeof buf - 1, 0);
  ::close(s);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, 6), "error ") << buf;
  EXPECT_NE(std::string(buf).find("descriptors"), std::string::npos) << buf;
  // The pool replaced that worker and still serves a real resume.
  auto r = lt::run({kAmber, "resume", img, "--pool", sock}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(0x55)) << r.transcript();
  EXPECT_TRUE(pool.running()) << pool.transcript();
}

}  // namespace
