#include "firmware/pvh_boot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/boot_layout.h"
#include "firmware/expect_error.h"
#include "firmware/page_tables.h"
#include "firmware/start_info.h"
#include "firmware/test_support.h"

namespace amber::x86 {
namespace {

using ::testing::HasSubstr;
using testing::expect_error;
using testing::guest_bytes;
using testing::kPvhEntry;
using testing::kPvhFileSz;
using testing::kPvhLoadAddr;
using testing::kPvhMemSz;
using testing::make_pvh_elf;
using testing::phdr_of;
using testing::set_phdr;
using testing::TestVm;

constexpr uint64_t kRam = 64ull << 20;

TEST(PvhBoot, FindsTheEntryNote) {
  EXPECT_EQ(parse_pvh_elf(make_pvh_elf(true, 8), kRam).entry, kPvhEntry);
  EXPECT_EQ(parse_pvh_elf(make_pvh_elf(true, 4), kRam).entry, kPvhEntry);  // Xen-style 32-bit descriptor
  auto img = parse_pvh_elf(make_pvh_elf(), kRam);
  ASSERT_EQ(img.segments.size(), 1u);
  EXPECT_EQ(img.load_end, kPvhLoadAddr + kPvhMemSz);
}

TEST(PvhBoot, LoadsSegmentsStartInfoAndInitrd) {
  TestVm vm(kRam);
  vm.mem.write(kPvhLoadAddr, std::vector<uint8_t>(kPvhMemSz, 0xaa));  // stale memory
  auto f = make_pvh_elf();
  std::vector<uint8_t> initrd(5000, 0x42);
  std::string cmdline = "console=ttyS0";
  BootResult r = load_pvh(vm.mem, f, initrd, cmdline, kRam);

  EXPECT_EQ(guest_bytes(vm.mem, kPvhLoadAddr, kPvhFileSz), std::vector<uint8_t>(f.begin() + 0x1000, f.end()));
  EXPECT_EQ(guest_bytes(vm.mem, kPvhLoadAddr + kPvhFileSz, kPvhMemSz - kPvhFileSz),
            std::vector<uint8_t>(kPvhMemSz - kPvhFileSz, 0));  // bss zeroed

  auto si = vm.mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
  EXPECT_EQ(si.magic, 0x336ec578u);
  EXPECT_EQ(si.version, 1u);
  EXPECT_EQ(si.flags, 0u);
  EXPECT_EQ(si.cmdline_paddr, layout::kCmdlineAddr);
  EXPECT_EQ(si.rsdp_paddr, 0u);
  auto cl = guest_bytes(vm.mem, si.cmdline_paddr, cmdline.size() + 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(cl.data())), cmdline);

  ASSERT_EQ(si.nr_modules, 1u);
  auto mod = vm.mem.read_obj<HvmModlistEntry>(si.modlist_paddr).value();
  EXPECT_EQ(mod.paddr, r.initrd_addr);
  EXPECT_EQ(mod.size, initrd.size());
  EXPECT_EQ(mod.paddr % kPageSize, 0u);
  EXPECT_GE(mod.paddr, kPvhLoadAddr + kPvhMemSz);
  EXPECT_LE(mod.paddr + mod.size, kRam);
  EXPECT_EQ(guest_bytes(vm.mem, mod.paddr, mod.size), initrd);

  ASSERT_EQ(si.memmap_entries, 3u);
  std::vector<HvmMemmapEntry> mm;
  for (uint32_t i = 0; i < si.memmap_entries; ++i)
    mm.push_back(vm.mem.read_obj<HvmMemmapEntry>(si.memmap_paddr + i * sizeof(HvmMemmapEntry)).value());
  EXPECT_EQ(mm[0].addr, 0u);
  EXPECT_EQ(mm[0].size, layout::kEbdaStart);
  EXPECT_EQ(mm[0].type, 1u);
  EXPECT_EQ(mm[1].addr, layout::kEbdaStart);
  EXPECT_EQ(mm[1].type, 2u);
  EXPECT_EQ(mm[2].addr, 0x100000u);
  EXPECT_EQ(mm[2].size, kRam - 0x100000);
  EXPECT_EQ(mm[2].type, 1u);
  // The start_info page must not run into the zero page / other boot data.
  EXPECT_LE(si.memmap_paddr + 3 * sizeof(HvmMemmapEntry), layout::kZeroPage);

  EXPECT_EQ(r.cpu.mode, CpuBootState::Mode::kProtected32);
  EXPECT_EQ(r.cpu.rip, kPvhEntry);
  EXPECT_EQ(r.cpu.rbx, layout::kPvhStartInfo);
  EXPECT_EQ(r.cpu.cs.selector, kCode32Selector);
  EXPECT_EQ(r.cpu.cr0 & kCr0Pg, 0u);
  EXPECT_THAT(r.description, HasSubstr("PVH"));
  EXPECT_THAT(r.description, HasSubstr("0x1000680"));
}

TEST(PvhBoot, NoInitrdMeansNoModules) {
  TestVm vm(kRam);
  BootResult r = load_pvh(vm.mem, make_pvh_elf(), {}, "", kRam);
  auto si = vm.mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
  EXPECT_EQ(si.nr_modules, 0u);
  EXPECT_EQ(si.modlist_paddr, 0u);
  EXPECT_EQ(r.initrd_addr, 0u);
}

TEST(PvhBoot, RejectsMalformedElf) {
  TestVm vm(kRam);
  auto load = [&](const std::vector<uint8_t>& f) { load_pvh(vm.mem, f, {}, "", kRam); };
  expect_error([&] { load(make_pvh_elf(false)); },
               "kernel: ELF has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
  expect_error([&] { load(make_pvh_elf(true, 2)); }, "2-byte descriptor");
  expect_error([&] { load(make_pvh_elf(true, 8, 0x100)); }, "outside the loaded segments");

  auto f = make_pvh_elf();
  f[4] = 1;  // ELFCLASS32
  expect_error([&] { load(f); }, "not 64-bit");
  f = make_pvh_elf();
  f[18] = 3;  // EM_386
  expect_error([&] { load(f); }, "not x86-64");
  f = make_pvh_elf();
  f[0x38] = 0;  // e_phnum
  expect_error([&] { load(f); }, "0 program headers");
  f = make_pvh_elf();
  f[0x20] = 0xf0;  // e_phoff
  f[0x21] = 0xff;
  expect_error([&] { load(f); }, "program headers at 0xfff0 run past");

  auto edit_load = [&](auto edit) {
    auto g = make_pvh_elf();
    auto p = phdr_of(g, 0);
    edit(p);
    set_phdr(g, 0, p);
    return g;
  };
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_filesz = 0x10000; p.p_memsz = 0x10000; })); },
               "runs past the");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_offset = ~0ull - 8; })); }, "runs past the");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_memsz = 0x100; })); }, "p_filesz 0x1000 > p_memsz 0x100");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_paddr = 0x8000; })); }, "outside guest RAM");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_memsz = kRam; })); }, "outside guest RAM");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_paddr = ~0ull - 0x1000; })); }, "outside guest RAM");
  expect_error([&] { load(edit_load([](Elf64Phdr& p) { p.p_type = 6; })); }, "no PT_LOAD");

  auto g = make_pvh_elf();
  auto note = phdr_of(g, 1);
  note.p_filesz -= 4;  // cut the Xen note's descriptor short
  set_phdr(g, 1, note);
  expect_error([&] { load(g); }, "ELF note runs past");
  f = make_pvh_elf();
  f.resize(40);
  expect_error([&] { load(f); }, "truncated ELF");
}

TEST(PvhBoot, InitrdThatDoesNotFitIsRejected) {
  TestVm vm(kRam);
  std::vector<uint8_t> initrd(kRam - kPvhLoadAddr);
  expect_error([&] { load_pvh(vm.mem, make_pvh_elf(), initrd, "", kRam); }, "initrd:");
}

}  // namespace
}  // namespace amber::x86
