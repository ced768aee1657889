// Multiboot (version 1) kernels on real KVM (issue 16): guest-tests/bare's
// multiboot.S as ELF32, ELF64 and address-field images, booted the way
// `amber run --kernel` boots them, check what the loader hands them (EAX,
// the information, memory map, module, command line) and report through
// --debug-exit; one is saved mid-run and resumed; and the real binary runs
// one end to end. Runs natively where /dev/kvm runs bare-metal guests (PVM
// too), otherwise inside tools/kvm-sandbox.sh.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "vmm/bare_vm_harness.h"
#include "vmm/machine_config_state.h"

namespace amber::vmm {
namespace {

using testing::BareVm;

constexpr int kPass = (0x31 << 1) | 1;  // multiboot.S writes 0x31 when every check passed
constexpr const char* kModuleText = "amber-module: hello from a multiboot module\nsecond line\n";

std::span<const uint8_t> text_bytes(const char* s) {
  return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)};
}

struct TempDir {
  std::string path;
  TempDir() {
    char d[] = "/tmp/amber-mb-test-XXXXXX";
    path = mkdtemp(d) ? d : "";
  }
  std::string file(const char* name) const { return path + "/" + name; }
  ~TempDir() {
    for (const char* f : {"mb.amber", "mod.txt", "out.txt"}) unlink(file(f).c_str());
    rmdir(path.c_str());
  }
};

TEST(Multiboot, Elf32Elf64AndAddressFieldKernelsSeeWhatTheLoaderGaveThem) {
  for (const char* file : {"mb32.elf", "mb64.elf", "mbaout.bin"}) {
    SCOPED_TRACE(file);
    BareVm h;
    h.debug_exit_port = layout::kDebugExitPort;
    std::vector<x86::BootModule> mods{{text_bytes(kModuleText), "mod.txt"}, {text_bytes("other"), "two.bin x=1"}};
    std::string desc = h.boot_kernel(file, mods, "a=b");
    EXPECT_NE(desc.find("multiboot"), std::string::npos) << desc;
    EXPECT_EQ(h.m->config().kernel_format, "multiboot");
    auto r = h.m->run({});
    ASSERT_EQ(r.reason, StopReason::kGuestExit) << r.message << "\n" << h.out;
    EXPECT_EQ(r.exit_status(), kPass) << h.out;
    for (const std::string& want : std::vector<std::string>{"EAX=0x2badb002", "boot loader amber\n", std::string("cmdline ") + file + " a=b\n",
                             "mem_lower 0x0000027f KiB, mem_upper 0x0001fc00\n",  // 639 KiB; 127 MiB above 1 MiB
                             "mmap 0x00100000 0x07f00000 type 0x00000001\n",
                             "module mod.txt 0x00000038 bytes: amber-module: hello from a multiboot module\n",
                             "all checks passed"})
      EXPECT_NE(h.out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << h.out;
  }
}

// The guest's checks can fail: without "a=b" in its command line it stops
// at check 4, without a module at check 7 (exit status (N << 1) | 1).
TEST(Multiboot, TheGuestReportsAFailedCheck) {
  BareVm no_arg;
  no_arg.debug_exit_port = layout::kDebugExitPort;
  std::vector<x86::BootModule> mods{{text_bytes(kModuleText), "mod.txt"}};
  no_arg.boot_kernel("mb32.elf", mods, "x=y");
  auto r = no_arg.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.exit_status(), (4 << 1) | 1) << no_arg.out;
  EXPECT_NE(no_arg.out.find("FAIL 0x00000004"), std::string::npos) << no_arg.out;

  BareVm no_module;
  no_module.debug_exit_port = layout::kDebugExitPort;
  no_module.boot_kernel("mb32.elf", {}, "a=b");
  r = no_module.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.exit_status(), (7 << 1) | 1) << no_module.out;
}

// With "save" in its command line the guest rings amber's control port
// after its checks: the first run saves and stops; the VM resumed from the
// image (a fresh VM: RAM, vCPU in 32-bit protected mode, debug-exit) checks
// its module again and ends with the same status as an uninterrupted run.
TEST(Multiboot, AGuestSavedMidRunResumesToTheSameResult) {
  TempDir dir;
  BareVm first;
  first.debug_exit_port = layout::kDebugExitPort;
  std::vector<x86::BootModule> mods{{text_bytes(kModuleText), "mod.txt"}};
  first.boot_kernel("mb32.elf", mods, "a=b save");
  auto r1 = first.m->run({"", dir.file("mb.amber"), false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message << "\n" << first.out;
  EXPECT_NE(first.out.find("asking for a save"), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find("all checks passed"), std::string::npos) << first.out;
  first.m.reset();

  auto img = image::Image::open(dir.file("mb.amber"));
  EXPECT_TRUE(img.verify().ok);
  BareVm second;
  second.resume(img);
  EXPECT_EQ(second.m->config().kernel_format, "multiboot");
  EXPECT_FALSE(is_linux_guest(to_state(second.m->config()))) << "amber resume would refuse it on PVM";
  auto r2 = second.m->run({});
  ASSERT_EQ(r2.reason, StopReason::kGuestExit) << r2.message << "\n" << second.out;
  EXPECT_EQ(r2.exit_status(), kPass) << second.out;
  EXPECT_NE(second.out.find("after the save request"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("all checks passed"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find("entered in protected mode"), std::string::npos) << "the resumed guest started over";
}

// ---- the real binary ---------------------------------------------------------

std::string amber_bin() {
  const char* env = std::getenv("AMBER_BIN");
  return env && *env ? env : AMBER_BIN_DEFAULT;
}

struct Ran {
  int status = -1;  // exit status; -1: killed (timeout) or not started
  std::string out;
};

// Runs `amber ARGS...` with stdin /dev/null and stdout+stderr to a file;
// kills it after `timeout`.
Ran run_amber(const std::vector<std::string>& args, const std::string& out_file,
              std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> argv{amber_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  Ran r;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.out = "posix_spawn failed: " + std::string(std::strerror(rc));
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      st = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (st != -1 && WIFEXITED(st)) r.status = WEXITSTATUS(st);
  std::ifstream f(out_file);
  std::stringstream ss;
  ss << f.rdbuf();
  r.out = ss.str();
  return r;
}

// Issue 16's "done when": `amber run --kernel mb.elf --initrd mod.txt
// --cmdline "a=b" --debug-exit` exits with (V << 1) | 1, and so does the
// same kernel after a save and `amber resume` (without --force-kvm: a
// multiboot guest is not refused where Linux cannot run).
TEST(MultibootCli, AmberRunAndResumeEndWithTheGuestsStatus) {
  ASSERT_EQ(access(amber_bin().c_str(), X_OK), 0) << "no amber binary at " << amber_bin() << " (set AMBER_BIN)";
  TempDir dir;
  std::ofstream(dir.file("mod.txt")) << kModuleText;
  std::string kernel = testing::bare_guest_path("mb32.elf");
  Ran run = run_amber({"run", "--kernel", kernel, "--initrd", dir.file("mod.txt"), "--cmdline", "a=b", "--debug-exit",
                       "--verbose"},
                      dir.file("out.txt"));
  EXPECT_EQ(run.status, kPass) << run.out;
  EXPECT_NE(run.out.find("amber: multiboot ELF32"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("multiboot: cmdline " + kernel + " a=b\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("multiboot: module " + dir.file("mod.txt") + " 0x00000038 bytes: amber-module"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("all checks passed"), std::string::npos) << run.out;

  Ran saved = run_amber({"run", "--kernel", kernel, "--initrd", dir.file("mod.txt"), "--cmdline", "a=b save",
                         "--debug-exit", "--save", dir.file("mb.amber")},
                        dir.file("out.txt"));
  ASSERT_EQ(saved.status, 0) << saved.out;
  EXPECT_EQ(saved.out.find("all checks passed"), std::string::npos) << saved.out;
  Ran resumed = run_amber({"resume", dir.file("mb.amber")}, dir.file("out.txt"));
  EXPECT_EQ(resumed.status, kPass) << resumed.out;
  EXPECT_NE(resumed.out.find("all checks passed"), std::string::npos) << resumed.out;
  EXPECT_EQ(resumed.out.find("cannot run a Linux guest"), std::string::npos) << resumed.out;
}

}  // namespace
}  // namespace amber::vmm
