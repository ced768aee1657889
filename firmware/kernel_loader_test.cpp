#include "firmware/kernel_loader.h"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/expect_error.h"
#include "firmware/multiboot_test_support.h"
#include "firmware/test_support.h"

namespace amber::x86 {
namespace {

using ::testing::HasSubstr;
using testing::expect_error;
using testing::make_bzimage;
using testing::make_pvh_elf;
using testing::TestVm;

constexpr uint64_t kRam = 64ull << 20;

TEST(KernelLoader, DetectsTheFormat) {
  TestVm vm(kRam);
  BootResult bz = load_kernel(vm.mem, make_bzimage(), {}, "quiet", kRam);
  EXPECT_EQ(bz.cpu.mode, CpuBootState::Mode::kLong64);
  EXPECT_THAT(bz.description, HasSubstr("bzImage"));
  BootResult pvh = load_kernel(vm.mem, make_pvh_elf(), {}, "quiet", kRam);
  EXPECT_EQ(pvh.cpu.mode, CpuBootState::Mode::kProtected32);
  EXPECT_THAT(pvh.description, HasSubstr("PVH"));
}

TEST(KernelLoader, RejectsNonKernels) {
  TestVm vm(kRam);
  expect_error([&] { load_kernel(vm.mem, {}, {}, "", kRam); }, "kernel: file is empty");
  std::vector<uint8_t> text(4096, 'x');
  expect_error([&] { load_kernel(vm.mem, text, {}, "", kRam); }, "kernel: not a bzImage");
  expect_error([&] { load_kernel(vm.mem, make_bzimage(), {}, "", 8 << 20); }, "below the minimum");
}

bool detect_may_take_two(const std::vector<uint8_t>& f) {
  try {
    return detect_kernel_format(f) == KernelFormat::kMultiboot;
  } catch (const Error&) {
    return false;
  }
}

// Loads `f`; only success or amber::Error are acceptable outcomes.
void load_must_not_crash(TestVm& vm, const std::vector<uint8_t>& f, const std::vector<uint8_t>& initrd) {
  try {
    std::vector<BootModule> mods{{initrd, "mod.bin"}, {initrd, "again"}};
    // Linux formats refuse two modules; so the second is only for multiboot.
    std::span<const BootModule> given(mods.data(), detect_may_take_two(f) ? 2 : 1);
    BootResult r = load_kernel(vm.mem, f, given, "console=ttyS0", vm.mem_bytes);
    // A successful load must point the vCPU into guest RAM.
    EXPECT_LT(r.cpu.rip, vm.mem_bytes);
    EXPECT_GE(r.cpu.rip, layout::kHighMemStart);
    if (r.initrd_size) {
      EXPECT_LE(r.initrd_addr + r.initrd_size, vm.mem_bytes);
    }
  } catch (const Error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception type: " << e.what();
  }
}

void fuzz(const std::vector<uint8_t>& seed, uint64_t hot_bytes, uint32_t rounds) {
  TestVm vm(kRam);
  std::vector<uint8_t> initrd(3 * 4096 + 5, 0x99);
  for (size_t len = 0; len <= seed.size(); ++len)
    load_must_not_crash(vm, std::vector<uint8_t>(seed.begin(), seed.begin() + len), initrd);
  std::mt19937_64 rng(12345);
  for (uint32_t i = 0; i < rounds; ++i) {
    auto f = seed;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      // Mostly the headers, where the parser looks; sometimes anywhere.
      uint64_t pos = (rng() % 4) ? rng() % hot_bytes : rng() % f.size();
      f[pos] = (rng() % 2) ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(f[pos] ^ (1u << (rng() % 8)));
    }
    if (rng() % 8 == 0) f.resize(rng() % f.size());
    load_must_not_crash(vm, f, initrd);
  }
}

TEST(KernelLoader, BzImageTruncationsAndByteFlipsOnlyEverThrowError) { fuzz(make_bzimage(), 0x300, 4000); }
TEST(KernelLoader, PvhElfTruncationsAndByteFlipsOnlyEverThrowError) { fuzz(make_pvh_elf(), 0x300, 4000); }
TEST(KernelLoader, MultibootElf32TruncationsAndByteFlipsOnlyEverThrowError) {
  fuzz(testing::make_mb_elf32(), 0x1040, 4000);
}
TEST(KernelLoader, MultibootElf64TruncationsAndByteFlipsOnlyEverThrowError) {
  fuzz(testing::make_mb_elf64(), 0x1040, 4000);
}
TEST(KernelLoader, MultibootAddressFieldsTruncationsAndByteFlipsOnlyEverThrowError) {
  fuzz(testing::make_mb_aout(), 0x80, 4000);
}

}  // namespace
}  // namespace amber::x86
