// Issue 3: booting Linux with `amber run`, the console, signals, bad inputs.
#include <signal.h>

#include <iostream>

#include "harness.h"

namespace lt {
namespace {

class BootTest : public LinuxTest {};

// The whole console (no `quiet`) once: bzImage through the 16-bit boot
// protocol, the ready scenario's results, the user's cmdline appended.
TEST_F(BootTest, BzImageBootsReadyScenarioAndPassesCmdline) {
  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ready.cpio.gz"), "--cmdline",
                  "amber.marker=xyz"});
  ASSERT_TRUE(p->expect("Linux version"));
  ASSERT_TRUE(p->expect("AMBER-RESULT cpus=1\n"));
  std::vector<std::string> g;
  ASSERT_TRUE(p->expect_regex("AMBER-RESULT cmdline=(.*)\n", &g));
  EXPECT_TRUE(has_word(g[1], "amber.marker=xyz")) << g[1];
  EXPECT_TRUE(has_word(g[1], "console=ttyS0")) << g[1];
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  EXPECT_EQ(p->err().find("amber: error"), std::string::npos) << p->transcript();
}

TEST_F(BootTest, PvhVmlinuxBootsReadyScenario) {
  auto p = amber({"run", "--kernel", guest_file("vmlinux"), "--initrd", guest_file("ready.cpio.gz"), "--cmdline",
                  std::string(kQuiet) + " amber.marker=pvh"});
  ASSERT_TRUE(p->expect("AMBER-RESULT cpus=1\n"));
  ASSERT_TRUE(p->expect("amber.marker=pvh"));
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
}

TEST_F(BootTest, TwoCpusAreOnline) {
  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ready.cpio.gz"), "--cpus", "2",
                  "--cmdline", kQuiet});
  ASSERT_TRUE(p->expect("AMBER-RESULT cpus=2\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
}

TEST_F(BootTest, InteractiveShellAnswersAndExitEndsAmber) {
  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("shell.cpio.gz"), "--cmdline",
                  kQuiet});
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(wait_prompt(*p));
  auto out = shell(*p, "echo x-$((6*7))");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "x-42") << p->transcript();
  out = shell(*p, "tty");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "/dev/ttyS0") << p->transcript();
  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
}

// The virtio-rng device (docs/entropy.md) is found by Linux's virtio-mmio
// bus as device ID 4 in the window after the disks; --no-rng leaves it out.
// (The test kernel has no hw_random driver, so no /dev/hwrng appears.)
TEST_F(BootTest, TheGuestFindsTheEntropyDeviceUnlessNoRng) {
  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("shell.cpio.gz"), "--cmdline",
                  kQuiet});
  ASSERT_TRUE(wait_prompt(*p));
  auto ids = shell(*p, "echo $(cat /sys/bus/virtio/devices/*/device)");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, "0x0004") << p->transcript();
  auto cmdline = shell(*p, "cat /proc/cmdline");
  ASSERT_TRUE(cmdline);
  EXPECT_TRUE(has_word(*cmdline, "virtio_mmio.device=4K@0xd0000000:5")) << *cmdline;
  ASSERT_TRUE(p->send("exit\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();

  auto q = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("shell.cpio.gz"), "--no-rng",
                  "--cmdline", kQuiet});
  ASSERT_TRUE(wait_prompt(*q));
  // Short enough for one 80-column line: the shell echo is matched verbatim.
  auto n = shell(*q, "echo $(ls /sys/bus/virtio/devices|wc -l)-$(grep -c mmio /proc/cmdline)");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, "0-0") << q->transcript();
  ASSERT_TRUE(q->send("exit\n"));
  EXPECT_EQ(q->wait(), ExitStatus::exited(0)) << q->transcript();
}

TEST_F(BootTest, SigtermStopsARunningGuestWith130) {
  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ticks.cpio.gz"), "--cmdline",
                  kQuiet});
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(p->expect("AMBER-TICK 3\n"));
  ASSERT_TRUE(p->signal(SIGTERM));
  auto st = p->wait(30s);  // "promptly": generous for the sandbox, but far below a guest's lifetime
  EXPECT_EQ(st, ExitStatus::exited(130)) << p->transcript();
  expect_no_crash(p->out(), p->err(), st);
}

// Kernel (and other input) files amber cannot use: exit 1, exactly one
// `amber: error:` line, no crash, no guest output.
TEST_F(BootTest, BadInputFilesFailWithOneErrorLine) {
  std::string bz = guest_file("bzImage");
  std::string truncated = *tmp_ / "truncated-bzImage";
  copy_file(bz, truncated, 4096);
  std::string junk = *tmp_ / "junk.bin";
  write_file(junk, std::string(1 << 20, '\x5a'));
  std::string empty = *tmp_ / "empty";
  write_file(empty, "");
  std::string missing = *tmp_ / "no-such-kernel";
  std::string initrd = guest_file("ready.cpio.gz");

  struct Case {
    std::string what;
    std::vector<std::string> args;
  };
  std::vector<Case> cases = {
      {"missing kernel", {"run", "--kernel", missing, "--initrd", initrd}},
      {"truncated bzImage (4 KiB)", {"run", "--kernel", truncated, "--initrd", initrd}},
      {"1 MiB of 0x5a as kernel", {"run", "--kernel", junk, "--initrd", initrd}},
      {"empty kernel", {"run", "--kernel", empty, "--initrd", initrd}},
      {"missing initrd", {"run", "--kernel", bz, "--initrd", missing}},
      {"missing disk", {"run", "--kernel", bz, "--initrd", initrd, "--disk", missing}},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = amber_run(c.args, 60s);
    std::cout << "  " << c.what << " -> " << r.status << ": " << r.err.substr(0, r.err.find('\n')) << "\n";
    EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.transcript();
    EXPECT_EQ(count_lines_with(r.err, "amber: error:"), 1) << r.transcript();
    EXPECT_EQ(r.err.rfind("amber: error:", 0), 0u) << "stderr should start with the error line\n" << r.transcript();
    EXPECT_EQ(r.out.find("AMBER-"), std::string::npos) << r.transcript();
    expect_no_crash(r.out, r.err, r.status);
  }
}

TEST_F(BootTest, BadFlagsAreUsageErrors) {
  std::vector<std::string> base = {"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ready.cpio.gz")};
  std::vector<std::vector<std::string>> bad = {
      {"--cpus", "0"}, {"--cpus", "33"}, {"--mem", "lots"}, {"--bogus"}, {"--disk", guest_file("disk.img") + ",rw"}};
  for (auto& extra : bad) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    SCOPED_TRACE(extra[0] + (extra.size() > 1 ? " " + extra[1] : ""));
    auto r = amber_run(args, 60s);
    EXPECT_EQ(r.status, ExitStatus::exited(2)) << r.transcript();
    EXPECT_NE(r.err.find("amber"), std::string::npos) << r.transcript();
    EXPECT_EQ(r.out.find("AMBER-"), std::string::npos) << r.transcript();
    expect_no_crash(r.out, r.err, r.status);
  }
  auto r = amber_run({"run"}, 60s);  // no --kernel at all
  EXPECT_EQ(r.status, ExitStatus::exited(2)) << r.transcript();
}

}  // namespace
}  // namespace lt
