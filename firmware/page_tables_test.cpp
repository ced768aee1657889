#include "firmware/page_tables.h"

#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/test_support.h"

namespace amber::x86 {
namespace {

using testing::TestVm;

TEST(Gdt, EntriesEncodeFlatSegments) {
  // Reference encodings of flat 4 GiB descriptors (SDM vol. 3A figure 3-8).
  EXPECT_EQ(gdt_entry(0xc, 0x9b, 0, 0xfffff), 0x00cf9b000000ffffull);
  EXPECT_EQ(gdt_entry(0xa, 0x9b, 0, 0xfffff), 0x00af9b000000ffffull);
  EXPECT_EQ(gdt_entry(0xc, 0x93, 0, 0xfffff), 0x00cf93000000ffffull);
  EXPECT_EQ(gdt_entry(0x4, 0x93, 0x12345678, 0xabcde), 0x124a93345678bcdeull);
  EXPECT_EQ(boot_gdt()[0], 0u);
  EXPECT_EQ(boot_gdt()[kBootCsSelector / 8], 0x00af9b000000ffffull);
  EXPECT_EQ(boot_gdt()[kBootDsSelector / 8], 0x00cf93000000ffffull);
  EXPECT_EQ(boot_gdt()[kCode32Selector / 8], 0x00cf9b000000ffffull);
}

TEST(Gdt, DecodesIntoSegmentRegisters) {
  SegmentDesc s = segment_from_gdt(gdt_entry(0x4, 0x93, 0x12345678, 0xabcde), 0x18);
  EXPECT_EQ(s.base, 0x12345678u);
  EXPECT_EQ(s.limit, 0xabcdeu);  // byte granular: not scaled
  EXPECT_EQ(s.selector, 0x18);
  EXPECT_EQ(s.type, 3);
  EXPECT_EQ(s.s, 1);
  EXPECT_EQ(s.present, 1);
  EXPECT_EQ(s.db, 1);
  EXPECT_EQ(s.g, 0);
  EXPECT_EQ(s.l, 0);
}

TEST(Gdt, WrittenToGuestWithEmptyIdt) {
  TestVm vm(16 << 20);
  auto idt = vm.mem.write_obj<uint64_t>(layout::kIdtAddr, ~0ull);
  ASSERT_TRUE(idt);
  write_gdt_idt(vm.mem);
  for (int i = 0; i < kGdtEntries; ++i) EXPECT_EQ(vm.mem.read_obj<uint64_t>(layout::kGdtAddr + 8 * i), boot_gdt()[i]);
  EXPECT_EQ(vm.mem.read_obj<uint64_t>(layout::kIdtAddr), 0u);
}

TEST(PageTables, IdentityMapFirstFourGiBWithTwoMiBPages) {
  TestVm vm(16 << 20);
  std::vector<uint8_t> junk(0x6000, 0xee);
  vm.mem.write(layout::kPml4Addr, junk);  // stale contents must be overwritten
  write_identity_page_tables(vm.mem);
  auto rd = [&](uint64_t a) { return vm.mem.read_obj<uint64_t>(a).value(); };
  EXPECT_EQ(rd(layout::kPml4Addr), layout::kPdptAddr | 0x3);
  EXPECT_EQ(rd(layout::kPml4Addr + 8), 0u);
  EXPECT_EQ(rd(layout::kPml4Addr + 511 * 8), 0u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(rd(layout::kPdptAddr + 8 * i), (layout::kPdAddr + 0x1000 * i) | 0x3);
  EXPECT_EQ(rd(layout::kPdptAddr + 4 * 8), 0u);
  EXPECT_EQ(rd(layout::kPdAddr), 0x83u);
  EXPECT_EQ(rd(layout::kPdAddr + 8), 0x200083u);
  // The PD entry for 3 GiB (the MMIO hole) and the last one below 4 GiB.
  EXPECT_EQ(rd(layout::kPdAddr + 8 * 1536), 0xc0000083u);
  EXPECT_EQ(rd(layout::kPdAddr + 8 * 2047), 0xffe00083u);
}

TEST(CpuState, LongModeForTheLinux64BitEntry) {
  CpuBootState s = long_mode_state(0x100200);
  EXPECT_EQ(s.mode, CpuBootState::Mode::kLong64);
  EXPECT_EQ(s.rip, 0x100200u);
  EXPECT_EQ(s.cr0, 0x80000031u);  // PG | NE | ET | PE
  EXPECT_EQ(s.cr4, 0x20u);        // PAE
  EXPECT_EQ(s.efer, 0x500u);      // LMA | LME
  EXPECT_EQ(s.cr3, layout::kPml4Addr);
  EXPECT_EQ(s.rflags, 0x2u);
  EXPECT_EQ(s.rsp, layout::kBootStackTop);
  EXPECT_EQ(s.cs.selector, 0x10);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);
  EXPECT_EQ(s.cs.type, 0xb);
  EXPECT_EQ(s.ds.selector, 0x18);
  EXPECT_EQ(s.ds.limit, 0xffffffffu);
  EXPECT_EQ(s.ds.type, 0x3);
  EXPECT_EQ(s.gdt_base, layout::kGdtAddr);
  EXPECT_EQ(s.gdt_limit, 31);
  EXPECT_EQ(s.idt_base, layout::kIdtAddr);
  EXPECT_EQ(s.idt_limit, 0);
}

TEST(CpuState, ProtectedModeForPvh) {
  CpuBootState s = protected_mode_state(0x1000680);
  EXPECT_EQ(s.mode, CpuBootState::Mode::kProtected32);
  EXPECT_EQ(s.rip, 0x1000680u);
  EXPECT_EQ(s.cr0, kCr0Pe | kCr0Et);  // paging off, NE/WP/... clear
  EXPECT_EQ(s.cr4, 0u);
  EXPECT_EQ(s.efer, 0u);
  EXPECT_EQ(s.cs.selector, kCode32Selector);
  EXPECT_EQ(s.cs.db, 1);
  EXPECT_EQ(s.cs.l, 0);
  EXPECT_EQ(s.cs.base, 0u);
  EXPECT_EQ(s.cs.limit, 0xffffffffu);
  EXPECT_EQ(s.ds.selector, kBootDsSelector);
  EXPECT_EQ(s.ds.db, 1);
  EXPECT_EQ(s.rflags & 0x300, 0u);  // IF and TF clear
}

}  // namespace
}  // namespace amber::x86
