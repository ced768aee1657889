#include "kvm/boot_regs.h"

#include <gtest/gtest.h>

namespace amber::kvm {
namespace {

SegmentDesc code64() { return {0, 0xfffff, 0x8, 0xb, 1, 0, 0, 1, 1, 1}; }
SegmentDesc data64() { return {0, 0xfffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1}; }

kvm_sregs reset_like() {
  kvm_sregs s{};
  s.apic_base = 0xfee00900;
  s.tr.type = 0xb;
  s.tr.present = 1;
  s.interrupt_bitmap[0] = 1;
  return s;
}

TEST(BootRegs, LongMode) {
  CpuBootState b;
  b.mode = CpuBootState::Mode::kLong64;
  b.rip = 0x100000;
  b.rsp = 0x8ff0;
  b.rsi = 0x7000;
  b.cr0 = 0x11;  // PE|ET: PG added for long mode
  b.cr3 = 0x9000;
  b.cr4 = 0x200;
  b.efer = 0;
  b.gdt_base = 0x500;
  b.gdt_limit = 31;
  b.cs = code64();
  b.ds = data64();
  auto r = boot_regs(b);
  EXPECT_EQ(r.rip, 0x100000u);
  EXPECT_EQ(r.rsp, 0x8ff0u);
  EXPECT_EQ(r.rsi, 0x7000u);
  EXPECT_EQ(r.rflags, 2u);
  EXPECT_EQ(r.rax, 0u);

  auto s = boot_sregs(b, reset_like());
  EXPECT_EQ(s.cr0, 0x80000011u);
  EXPECT_EQ(s.cr3, 0x9000u);
  EXPECT_EQ(s.cr4, 0x220u);
  EXPECT_EQ(s.efer, kEferLme | kEferLma);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.selector, 0x8);
  EXPECT_EQ(s.cs.type, 0xb);
  EXPECT_EQ(s.cs.unusable, 0);
  for (auto* seg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) EXPECT_EQ(seg->selector, 0x10);
  EXPECT_EQ(s.gdt.base, 0x500u);
  EXPECT_EQ(s.gdt.limit, 31);
  EXPECT_EQ(s.apic_base, 0xfee00900u);  // kept from KVM
  EXPECT_EQ(s.tr.type, 0xb);
  EXPECT_EQ(s.interrupt_bitmap[0], 0u);
}

TEST(BootRegs, Protected32) {
  CpuBootState b;
  b.mode = CpuBootState::Mode::kProtected32;
  b.cr0 = 0;
  b.cs = {0, 0xfffff, 0x10, 0xb, 1, 0, 1, 1, 0, 1};
  b.ds = {0, 0xfffff, 0x18, 0x3, 1, 0, 1, 1, 0, 1};
  auto s = boot_sregs(b, reset_like());
  EXPECT_EQ(s.cr0 & kCr0Pe, kCr0Pe);
  EXPECT_EQ(s.cr0 & kCr0Pg, 0u);
  EXPECT_EQ(s.efer, 0u);
  EXPECT_EQ(s.cs.db, 1);
  EXPECT_EQ(s.ss.selector, 0x18);
  // Multiboot 0.6.96 section 3.2: EAX = 0x2BADB002, EBX = the information.
  b.rax = 0x2badb002;
  b.rbx = 0x10000;
  auto r = boot_regs(b);
  EXPECT_EQ(r.rax, 0x2badb002u);
  EXPECT_EQ(r.rbx, 0x10000u);
}

TEST(BootRegs, RealMode) {
  CpuBootState b;
  b.mode = CpuBootState::Mode::kReal;
  b.cr0 = 0x60000011;
  b.rip = 0x1000;
  b.cs = {0, 0xffff, 0, 0xb, 1, 0, 0, 1, 0, 0};
  b.ds = {0, 0xffff, 0, 0x3, 1, 0, 0, 1, 0, 0};
  auto s = boot_sregs(b, reset_like());
  EXPECT_EQ(s.cr0, 0x60000010u);
  EXPECT_EQ(s.cs.base, 0u);
  EXPECT_EQ(s.cs.limit, 0xffffu);
  EXPECT_EQ(boot_regs(b).rip, 0x1000u);
}

TEST(BootRegs, NotPresentSegmentIsUnusable) {
  SegmentDesc d;
  EXPECT_EQ(to_kvm_segment(d).unusable, 1);
  d.present = 1;
  EXPECT_EQ(to_kvm_segment(d).unusable, 0);
}

}  // namespace
}  // namespace amber::kvm
