#include "firmware/linux_boot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/boot_layout.h"
#include "firmware/expect_error.h"
#include "firmware/test_support.h"

namespace amber::x86 {
namespace {

using ::testing::HasSubstr;
using testing::expect_error;
using testing::TestVm;
using testing::guest_bytes;
using testing::header_of;
using testing::make_bzimage;
using testing::set_header;

constexpr uint64_t kRam = 64ull << 20;

// Note: BootParams is packed, so its fields are compared as values (+x):
// gtest's EXPECT_* bind references, which must not point at misaligned fields.
BootParams zero_page(const GuestMemory& mem) { return mem.read_obj<BootParams>(layout::kZeroPage).value(); }

TEST(LinuxBoot, ParsesTheSetupHeader) {
  auto f = make_bzimage();
  BzImageInfo info = parse_bzimage(f);
  EXPECT_EQ(+info.hdr.version, 0x020f);
  EXPECT_EQ(info.setup_bytes, 5u * 512);
  EXPECT_EQ(info.kernel_bytes, testing::kTestKernelBytes);
  // Relocatable, loaded at 1 MiB: runs at max(2 MiB aligned, pref 16 MiB) for init_size 8 MiB.
  EXPECT_EQ(bzimage_footprint_end(info), 0x1800000u);
}

TEST(LinuxBoot, ZeroSetupSectsMeansFour) {
  auto f = make_bzimage();
  auto h = header_of(f);
  h.setup_sects = 0;
  set_header(f, h);
  EXPECT_EQ(parse_bzimage(f).setup_bytes, 5u * 512);
}

TEST(LinuxBoot, FillsTheZeroPage) {
  TestVm vm(kRam);
  auto f = make_bzimage();
  std::string cmdline = "console=ttyS0 reboot=k panic=-1";
  BootResult r = load_bzimage(vm.mem, f, {}, cmdline, kRam);

  BootParams bp = zero_page(vm.mem);
  EXPECT_EQ(+bp.hdr.header, kHdrSMagic);
  EXPECT_EQ(+bp.hdr.version, 0x020f);
  EXPECT_EQ(+bp.hdr.type_of_loader, 0xff);
  EXPECT_EQ(+bp.hdr.loadflags, kLoadedHigh | kCanUseHeap);
  EXPECT_EQ(+bp.hdr.heap_end_ptr, 0xfe00);
  EXPECT_EQ(+bp.hdr.cmd_line_ptr, layout::kCmdlineAddr);
  EXPECT_EQ(+bp.ext_cmd_line_ptr, 0u);
  EXPECT_EQ(+bp.hdr.ramdisk_image, 0u);
  EXPECT_EQ(+bp.hdr.ramdisk_size, 0u);
  EXPECT_EQ(+bp.hdr.init_size, 0x800000u);  // copied from the file
  EXPECT_EQ(+bp.sentinel, 0);

  ASSERT_EQ(+bp.e820_entries, 3);
  EXPECT_EQ(+bp.e820_table[0].addr, 0u);
  EXPECT_EQ(+bp.e820_table[0].size, layout::kEbdaStart);
  EXPECT_EQ(+bp.e820_table[0].type, kE820Ram);
  EXPECT_EQ(+bp.e820_table[1].addr, layout::kEbdaStart);
  EXPECT_EQ(+bp.e820_table[1].type, kE820Reserved);
  EXPECT_EQ(+bp.e820_table[2].addr, 0x100000u);
  EXPECT_EQ(+bp.e820_table[2].size, kRam - 0x100000);
  EXPECT_EQ(+bp.e820_table[2].type, kE820Ram);

  auto cl = guest_bytes(vm.mem, layout::kCmdlineAddr, cmdline.size() + 1);
  EXPECT_EQ(std::string(cl.begin(), cl.end() - 1), cmdline);
  EXPECT_EQ(cl.back(), 0);

  // The protected-mode kernel (everything after the setup sectors) at 1 MiB.
  EXPECT_EQ(guest_bytes(vm.mem, 0x100000, testing::kTestKernelBytes),
            std::vector<uint8_t>(f.begin() + 5 * 512, f.end()));

  EXPECT_EQ(r.cpu.mode, CpuBootState::Mode::kLong64);
  EXPECT_EQ(r.cpu.rip, 0x100200u);
  EXPECT_EQ(r.cpu.rsi, layout::kZeroPage);
  EXPECT_EQ(r.cpu.cr3, layout::kPml4Addr);
  EXPECT_EQ(vm.mem.read_obj<uint64_t>(layout::kPml4Addr), layout::kPdptAddr | 3);
  EXPECT_EQ(vm.mem.read_obj<uint64_t>(layout::kGdtAddr + 0x10), 0x00af9b000000ffffull);
  EXPECT_THAT(r.description, HasSubstr("protocol 2.15"));
  EXPECT_THAT(r.description, HasSubstr("0x100200"));
}

TEST(LinuxBoot, OnlyTheDeclaredHeaderIsCopiedAndSetupDataIsDropped) {
  TestVm vm(kRam);
  auto f = make_bzimage();
  auto h = header_of(f);
  h.setup_data = 0x123456;
  h.jump = static_cast<uint16_t>(0xeb | ((0x258 - 0x202) << 8));  // header ends before pref_address
  set_header(f, h);
  load_bzimage(vm.mem, f, {}, "", kRam);
  BootParams bp = zero_page(vm.mem);
  EXPECT_EQ(+bp.hdr.setup_data, 0u);
  EXPECT_EQ(+bp.hdr.pref_address, 0u);
  EXPECT_EQ(+bp.hdr.init_size, 0u);
  EXPECT_EQ(+bp.hdr.cmdline_size, 2047u);
}

TEST(LinuxBoot, InitrdGoesHighPageAlignedBelowInitrdAddrMax) {
  TestVm vm(kRam);
  auto f = make_bzimage();
  std::vector<uint8_t> initrd(10000);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i ^ 0x5a);

  BootResult r = load_bzimage(vm.mem, f, initrd, "", kRam);
  EXPECT_EQ(r.initrd_addr % kPageSize, 0u);
  EXPECT_EQ(r.initrd_addr, (kRam - initrd.size()) & ~(kPageSize - 1));  // as high as RAM allows
  EXPECT_EQ(guest_bytes(vm.mem, r.initrd_addr, initrd.size()), initrd);
  BootParams bp = zero_page(vm.mem);
  EXPECT_EQ(+bp.hdr.ramdisk_image, r.initrd_addr);
  EXPECT_EQ(+bp.hdr.ramdisk_size, initrd.size());
  EXPECT_EQ(+bp.ext_ramdisk_image, 0u);
  EXPECT_EQ(+bp.ext_ramdisk_size, 0u);

  // A lower initrd_addr_max caps the placement: the initrd's last byte <= max.
  auto h = header_of(f);
  h.initrd_addr_max = 0x1ffffff;
  set_header(f, h);
  r = load_bzimage(vm.mem, f, initrd, "", kRam);
  EXPECT_EQ(r.initrd_addr % kPageSize, 0u);
  EXPECT_LE(r.initrd_addr + initrd.size(), 0x2000000u);
  EXPECT_GT(r.initrd_addr + initrd.size(), 0x2000000u - kPageSize);
  EXPECT_GE(r.initrd_addr, r.kernel_end);
  EXPECT_EQ(+zero_page(vm.mem).hdr.ramdisk_image, r.initrd_addr);
}

TEST(LinuxBoot, InitrdThatDoesNotFitIsRejected) {
  TestVm vm(kRam);
  auto f = make_bzimage();
  // The kernel's footprint ends at 24 MiB; 40 MiB + 1 page cannot fit in 64 MiB.
  std::vector<uint8_t> initrd((40ull << 20) + kPageSize);
  expect_error([&] { load_bzimage(vm.mem, f, initrd, "", kRam); }, "initrd: 41947136 bytes do not fit below");
  initrd.resize(40ull << 20);
  EXPECT_EQ(load_bzimage(vm.mem, f, initrd, "", kRam).initrd_addr, 24ull << 20);
}

TEST(LinuxBoot, CommandLineIsBoundedByCmdlineSize) {
  TestVm vm(kRam);
  auto f = make_bzimage();
  auto h = header_of(f);
  h.cmdline_size = 16;
  set_header(f, h);
  EXPECT_NO_THROW(load_bzimage(vm.mem, f, {}, std::string(16, 'a'), kRam));
  expect_error([&] { load_bzimage(vm.mem, f, {}, std::string(17, 'a'), kRam); }, "cmdline: 17 bytes exceed");
  // Even with a large cmdline_size, amber's own slot is the limit.
  h.cmdline_size = 1 << 20;
  set_header(f, h);
  EXPECT_THROW(load_bzimage(vm.mem, f, {}, std::string(layout::kCmdlineMax, 'a'), kRam), Error);
  EXPECT_THROW(load_bzimage(vm.mem, f, {}, std::string("a\0b", 3), kRam), Error);
}

TEST(LinuxBoot, RejectsMalformedHeaders) {
  TestVm vm(kRam);
  auto load = [&](const std::vector<uint8_t>& f) { load_bzimage(vm.mem, f, {}, "", kRam); };
  auto with = [](auto edit) {
    auto f = make_bzimage();
    auto h = header_of(f);
    edit(h);
    set_header(f, h);
    return f;
  };
  expect_error([&] { load(with([](SetupHeader& h) { h.header = 0; })); }, "not a bzImage or PVH ELF");
  expect_error([&] { load(with([](SetupHeader& h) { h.version = 0x0205; })); }, "boot protocol 2.05 is too old");
  expect_error([&] { load(with([](SetupHeader& h) { h.version = 0x020b; })); }, "XLF_KERNEL_64");
  expect_error([&] { load(with([](SetupHeader& h) { h.xloadflags = 0; })); }, "XLF_KERNEL_64");
  expect_error([&] { load(with([](SetupHeader& h) { h.loadflags = 0; })); }, "LOADED_HIGH");
  expect_error([&] { load(with([](SetupHeader& h) { h.syssize = 0x10000; })); },
               "kernel: truncated: setup says 1051136 bytes, file has 10752");
  expect_error([&] { load(with([](SetupHeader& h) { h.setup_sects = 200; })); }, "truncated");
  expect_error([&] { load(with([](SetupHeader& h) { h.payload_offset = 0x2000; h.payload_length = 1; })); },
               "payload");
  expect_error([&] { load(with([](SetupHeader& h) { h.kernel_alignment = 0x3000; })); }, "power of two");
  expect_error([&] { load(with([](SetupHeader& h) { h.init_size = 0x4000000; })); }, "needs guest RAM up to");
  expect_error([&] { load(with([](SetupHeader& h) { h.pref_address = ~0ull; })); }, "needs guest RAM up to");

  auto f = make_bzimage();
  f.resize(f.size() - 100);  // cut the protected-mode kernel short
  expect_error([&] { load(f); }, "kernel: truncated: setup says 10752 bytes, file has 10652");
  f.resize(0x200);
  expect_error([&] { load(f); }, "truncated");
}

}  // namespace
}  // namespace amber::x86
