// Issue 13: `amber exec` boots the test kernel over the host's root (here the
// sandbox's busybox initramfs, shared over 9p), runs one command in the
// test's directory and exits with its status (docs/exec.md).
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"

namespace lt {
namespace {

class ExecTest : public LinuxTest {
 protected:
  RunResult exec(std::vector<std::string> args, Seconds timeout = 180s) {
    std::vector<std::string> argv = {"exec", "--kernel", guest_file("bzImage")};
    argv.insert(argv.end(), args.begin(), args.end());
    return amber_run(argv, timeout);
  }
};

// The "Done when": the guest reads a file of the caller's directory
// and amber exits with the command's status.
TEST_F(ExecTest, CatsAFileOfTheCurrentDirectoryAndExitsWithTheCommandsStatus) {
  write_file(*tmp_ / "in.txt", "line one from the host\nline two\n");
  auto r = exec({"--", "sh", "-c", "cat in.txt; exit 7"});
  EXPECT_EQ(r.status, ExitStatus::exited(7)) << r.transcript();
  // Exactly the file: no kernel messages (quiet), no \r (amber's stdout is a
  // pipe, so amber-init turns ONLCR off), nothing from amber-init.
  EXPECT_EQ(r.out, "line one from the host\nline two\n") << r.transcript();
  expect_no_crash(r.out, r.err, r.status);
}

TEST_F(ExecTest, RunsInTheCallersDirectoryAndMayWriteAnywhereInTheGuest) {
  auto r = exec({"--", "sh", "-c", "pwd; touch /guest-only && ls /guest-only"});
  EXPECT_EQ(r.status, ExitStatus::exited(0)) << r.transcript();
  char real[PATH_MAX];
  ASSERT_NE(::realpath(tmp_->path().c_str(), real), nullptr);
  // pwd, then the file the overlay let it create at / (in the guest only).
  EXPECT_EQ(r.out, std::string(real) + "\n/guest-only\n") << r.transcript();
  EXPECT_FALSE(exists("/guest-only"));
}

TEST_F(ExecTest, WritesStayInTheGuestUnlessTheDirectoryIsAnRwdir) {
  auto r = exec({"--", "sh", "-c", "echo from-guest > out.txt && cat out.txt"});
  EXPECT_EQ(r.status, ExitStatus::exited(0)) << r.transcript();
  EXPECT_EQ(r.out, "from-guest\n") << r.transcript();
  EXPECT_FALSE(exists(*tmp_ / "out.txt")) << "a write without --rwdir reached the host";

  r = exec({"--rwdir", ".", "--", "sh", "-c", "echo from-guest > out.txt && mkdir sub && echo deep > sub/f"});
  EXPECT_EQ(r.status, ExitStatus::exited(0)) << r.transcript();
  ASSERT_TRUE(exists(*tmp_ / "out.txt")) << r.transcript();
  EXPECT_EQ(read_file(*tmp_ / "out.txt"), "from-guest\n");
  EXPECT_EQ(read_file(*tmp_ / "sub/f"), "deep\n");
}

TEST_F(ExecTest, ASignalEndsWith128PlusItsNumber) {
  auto r = exec({"--", "sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.status, ExitStatus::exited(128 + 9)) << r.transcript();
  r = exec({"--", "sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.status, ExitStatus::exited(128 + 15)) << r.transcript();
}

TEST_F(ExecTest, ACommandNotFoundIs127WithTheReasonAndNotExecutableIs126) {
  auto r = exec({"--", "no-such-command-amber"});
  EXPECT_EQ(r.status, ExitStatus::exited(127)) << r.transcript();
  EXPECT_NE(r.out.find("amber-init: no-such-command-amber: command not found"), std::string::npos)
      << r.transcript();
  write_file(*tmp_ / "not-exec", "#!/bin/sh\necho no\n");  // mode 0644
  r = exec({"--", "./not-exec"});
  EXPECT_EQ(r.status, ExitStatus::exited(126)) << r.transcript();
}

TEST_F(ExecTest, TheCommandGetsItsArgumentsVerbatimAndATerminal) {
  auto r = exec({"--", "sh", "-c", "printf '[%s]' \"$@\"; tty", "sh", "a b", "", "--help", "$x"});
  EXPECT_EQ(r.status, ExitStatus::exited(0)) << r.transcript();
  EXPECT_EQ(r.out, "[a b][][--help][$x]/dev/ttyS0\n") << r.transcript();
}

// amber's status directory (for kernels without ioperm) is made in $TMPDIR
// and removed at exit; a status of 0 comes back as 0.
TEST_F(ExecTest, TheStatusDirectoryIsRemovedAndZeroIsZero) {
  std::string tmpdir = *tmp_ / "tmpdir";
  ASSERT_EQ(::mkdir(tmpdir.c_str(), 0700), 0);
  Process p({amber_bin(), "exec", "--kernel", guest_file("bzImage"), "--", "true"},
            Process::Options{tmp_->path(), {{"TMPDIR", tmpdir}}});
  p.close_stdin();
  EXPECT_EQ(p.wait(180s), ExitStatus::exited(0)) << p.transcript();
  std::vector<std::string> left;
  if (DIR* d = ::opendir(tmpdir.c_str())) {
    while (auto* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") left.push_back(e->d_name);
    ::closedir(d);
  }
  EXPECT_TRUE(left.empty()) << "left in $TMPDIR: " << left[0];
}

// A guest that ends without reporting (here: no init to run, so the kernel
// panics and, with panic=-1, reboots) gives 125 and amber says why.
TEST_F(ExecTest, AGuestThatEndsWithoutAStatusGives125AndTheReason) {
  auto r = exec({"--cmdline", "rdinit=/no-such-init", "--", "true"});
  EXPECT_EQ(r.status, ExitStatus::exited(125)) << r.transcript();
  EXPECT_NE(r.err.find("amber: exec: the guest ended without reporting the command's exit status"), std::string::npos)
      << r.transcript();
}

}  // namespace
}  // namespace lt
