// Issue 12: a save that lets the guest run on while the image is written
// (vmm/background_save.h) must still hold RAM exactly as it was at the
// pause. The genwriter guest sweeps generations over 8192 pages; each image
// must show one generation boundary, next to the page index its saved
// registers hold.
#include <linux/kvm.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "vmm/kvm_test_temp_dir.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes
#include "snapshot/image.h"

namespace {

using namespace std::chrono_literals;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;
constexpr uint64_t kBase = 0x1000000, kPages = 8192;

// The tests' temporary directories: amber-bgsave-XXXXXX.
struct TempDir : amber::vmm::testing::TempDir {
  TempDir() : amber::vmm::testing::TempDir("amber-bgsave") {}
};

// Checks one image of genwriter; "" when consistent, else what is wrong.
std::string check_generations(const std::string& path) {
  auto img = amber::image::Image::open(path);
  const auto* vcpu = img.machine().child("vcpus") ? img.machine().child("vcpus")->child("vcpu@0") : nullptr;
  if (!vcpu || !vcpu->prop("regs") || vcpu->prop("regs")->size() != sizeof(kvm_regs)) return "no saved registers";
  kvm_regs regs;
  std::memcpy(&regs, vcpu->prop("regs")->data(), sizeof regs);
  // One read: each read_ram checks the checksums of the runs it touches.
  std::vector<uint8_t> ram(kPages * 4096);
  img.read_ram(0, kBase, ram);
  std::vector<uint64_t> gen(kPages);
  for (uint64_t i = 0; i < kPages; ++i) std::memcpy(&gen[i], ram.data() + i * 4096, 8);
  // One boundary: pages [0, j) hold X, [j, kPages) hold X - 1 (or all X).
  uint64_t x = gen[0];
  uint64_t j = 0;
  while (j < kPages && gen[j] == x) ++j;
  for (uint64_t i = j; i < kPages; ++i)
    if (gen[i] + 1 != x)
      return "page " + std::to_string(i) + " holds generation " + std::to_string(gen[i]) + ", page 0 " +
             std::to_string(x) + ": RAM from more than one instant";
  // ... and next to what the registers say (rax = G, rcx = the next page).
  bool at_rcx = (x == regs.rax && (j == regs.rcx || j == regs.rcx + 1)) ||
                (x + 1 == regs.rax && (j == kPages || regs.rcx == 0 || regs.rcx == kPages));
  if (!at_rcx)
    return "boundary at page " + std::to_string(j) + " of generation " + std::to_string(x) + ", registers rax " +
           std::to_string(regs.rax) + " rcx " + std::to_string(regs.rcx);
  return "";
}

TEST(BackgroundSave, ImagesHoldRamAsAtThePauseWhileTheGuestWritesOn) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string api = dir.path + "/api.sock";
  lt::Process vm({kAmber, "run", "--bare", kBare + "/genwriter.bin", "--api", api});
  ASSERT_TRUE(vm.expect("ready", 60s));
  for (int n = 0; n < 3; ++n) {
    std::this_thread::sleep_for(300ms);
    std::string img = dir.path + "/g" + std::to_string(n) + ".amber";
    auto r = lt::run({kAmber, "ctl", api, "save", "path=" + img, "then=continue"}, 120s);
    ASSERT_EQ(r.status, lt::ExitStatus::exited(0)) << r.transcript();
    EXPECT_NE(r.out.find("\"background\":true"), std::string::npos) << r.transcript();
    EXPECT_EQ(check_generations(img), "") << img;
  }
  auto stop = lt::run({kAmber, "ctl", api, "stop"}, 60s);
  EXPECT_EQ(stop.status, lt::ExitStatus::exited(0)) << stop.transcript();
  EXPECT_EQ(vm.wait(60s), lt::ExitStatus::exited(0)) << vm.transcript();
}

}  // namespace
