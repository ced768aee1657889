// Loads the prebuilt test-guest kernels (/work/shared/guest, README.md there)
// when they are present: AMBER_SHARED, else <source root>/../shared.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/kernel_loader.h"
#include "firmware/linux_boot.h"
#include "firmware/pvh_boot.h"
#include "firmware/start_info.h"
#include "firmware/test_support.h"

#ifndef AMBER_SOURCE_ROOT
#define AMBER_SOURCE_ROOT "."
#endif

namespace amber::x86 {
namespace {

using ::testing::HasSubstr;
using testing::TestVm;

constexpr uint64_t kRam = 256ull << 20;

std::string fmt_hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::filesystem::path guest_file(const char* name) {
  const char* env = std::getenv("AMBER_SHARED");
  std::filesystem::path shared = env && *env ? env : std::filesystem::path(AMBER_SOURCE_ROOT) / ".." / "shared";
  return shared / "guest" / name;
}

// The PVH entry the shared README documents for its vmlinux ("... with entry
// 0x1000500 for PVH boot"), or 0 when the README or the phrase is missing.
// Taken from the README, not a constant, so that a rebuilt shared kernel
// (whose entry moves) is checked against its own documentation.
uint64_t documented_pvh_entry() {
  std::ifstream in(guest_file("README.md"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("with entry (0x[0-9a-fA-F]+) for PVH boot"))) return 0;
  return std::stoull(m[1].str(), nullptr, 16);
}

// The file's bytes, or empty when it is absent.
std::vector<uint8_t> read_guest_file(const char* name) {
  std::ifstream in(guest_file(name), std::ios::binary);
  if (!in) return {};
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TEST(RealKernel, BzImageIsProtocol215AndLoads) {
  auto f = read_guest_file("bzImage");
  if (f.empty()) GTEST_SKIP() << "no " << guest_file("bzImage") << " (set AMBER_SHARED to the shared folder)";
  BzImageInfo info = parse_bzimage(f);
  EXPECT_EQ(+info.hdr.version, 0x020f);
  EXPECT_TRUE(info.hdr.xloadflags & kXlfKernel64);

  TestVm vm(kRam);
  std::vector<uint8_t> initrd(100000, 0x17);
  BootResult r = load_kernel(vm.mem, f, std::vector<BootModule>{{initrd, {}}}, "console=ttyS0 reboot=k panic=-1", kRam);
  EXPECT_EQ(r.cpu.rip, 0x100200u);
  EXPECT_EQ(r.cpu.rsi, layout::kZeroPage);
  EXPECT_THAT(r.description, HasSubstr("boot protocol 2.15"));
  auto bp = vm.mem.read_obj<BootParams>(layout::kZeroPage).value();
  EXPECT_EQ(+bp.hdr.version, 0x020f);
  EXPECT_EQ(+bp.hdr.ramdisk_image, r.initrd_addr);
  EXPECT_LE(uint64_t{r.initrd_addr} + initrd.size(), uint64_t{info.hdr.initrd_addr_max} + 1);
  EXPECT_GE(r.initrd_addr, r.kernel_end);
  std::vector<uint8_t> head(512);
  vm.mem.read(layout::kHighMemStart, head);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), f.begin() + static_cast<long>(info.setup_bytes)));
}

TEST(RealKernel, VmlinuxHasThePvhEntryAndLoads) {
  auto f = read_guest_file("vmlinux");
  if (f.empty()) GTEST_SKIP() << "no " << guest_file("vmlinux") << " (set AMBER_SHARED to the shared folder)";
  uint64_t entry = documented_pvh_entry();
  ASSERT_NE(entry, 0u) << guest_file("README.md") << " no longer says 'with entry 0x... for PVH boot'";
  EXPECT_EQ(parse_pvh_elf(f, kRam).entry, entry);
  TestVm vm(kRam);
  BootResult r = load_kernel(vm.mem, f, {}, "console=ttyS0", kRam);
  EXPECT_EQ(r.cpu.mode, CpuBootState::Mode::kProtected32);
  EXPECT_EQ(r.cpu.rip, entry);
  EXPECT_THAT(r.description, HasSubstr(fmt_hex(entry)));
  EXPECT_EQ(r.cpu.rbx, layout::kPvhStartInfo);
  auto si = vm.mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
  EXPECT_EQ(si.magic, kHvmStartMagic);
}

}  // namespace
}  // namespace amber::x86
