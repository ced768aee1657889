#include "kvm/debug_convert.h"

#include <gtest/gtest.h>

namespace amber::kvm {
namespace {

TEST(DebugConvert, GprsFollowGdbOrderWithRbpBeforeRsp) {
  kvm_regs r{};
  r.rax = 1, r.rbx = 2, r.rcx = 3, r.rdx = 4, r.rsi = 5, r.rdi = 6, r.rsp = 7, r.rbp = 8;
  r.r8 = 9, r.r15 = 16, r.rip = 0x100000, r.rflags = 0x202;
  kvm_sregs s{};
  s.cs.selector = 0x10, s.ss.selector = 0x18, s.fs.base = 0xf5, s.gs.base = 0x65, s.cr3 = 0x1000, s.efer = 0x500;
  kvm_fpu f{};
  auto d = to_debug_regs(r, s, f, 0xabc);
  EXPECT_EQ(d.gpr[6], 8u) << "gdb's regnum 6 is rbp";
  EXPECT_EQ(d.gpr[7], 7u) << "gdb's regnum 7 is rsp";
  EXPECT_EQ(d.gpr[8], 9u);
  EXPECT_EQ(d.gpr[15], 16u);
  EXPECT_EQ(d.rip, 0x100000u);
  EXPECT_EQ(d.sel[hv::kCs], 0x10);
  EXPECT_EQ(d.sel[hv::kSs], 0x18);
  EXPECT_EQ(d.fs_base, 0xf5u);
  EXPECT_EQ(d.gs_base, 0x65u);
  EXPECT_EQ(d.kernel_gs_base, 0xabcu);
  EXPECT_EQ(d.cr3, 0x1000u);
  EXPECT_EQ(d.efer, 0x500u);
}

TEST(DebugConvert, X87TagWordAndPointersRoundTrip) {
  kvm_fpu f{};
  f.ftwx = 0x81;  // st0 and st7 in use
  f.last_ip = 0x1122334455667788ull;
  f.last_dp = 0x99aabbccddeeff00ull;
  f.fcw = 0x37f;
  f.xmm[3][0] = 0x42;
  f.mxcsr = 0x1f80;
  kvm_regs r{};
  kvm_sregs s{};
  auto d = to_debug_regs(r, s, f, 0);
  EXPECT_EQ(d.ftag, 0x3ffcu) << "st0 and st7 valid (00), the rest empty (11)";
  EXPECT_EQ(d.fioff, 0x55667788u);
  EXPECT_EQ(d.fiseg, 0x11223344u);
  EXPECT_EQ(d.fooff, 0xddeeff00u);
  EXPECT_EQ(d.foseg, 0x99aabbccu);
  EXPECT_EQ(d.xmm[3][0], 0x42);
  kvm_fpu back{};
  from_debug_regs(d, r, s, back);
  EXPECT_EQ(back.ftwx, 0x81);
  EXPECT_EQ(back.last_ip, f.last_ip);
  EXPECT_EQ(back.last_dp, f.last_dp);
  EXPECT_EQ(back.fcw, 0x37f);
  EXPECT_EQ(back.mxcsr, 0x1f80u);
}

TEST(DebugConvert, WritingBackChangesOnlyWhatTheDebuggerSees) {
  kvm_regs r{};
  kvm_sregs s{};
  s.cs.limit = 0xfffff, s.cs.l = 1, s.cs.selector = 8;
  kvm_fpu f{};
  auto d = to_debug_regs(r, s, f, 0);
  d.gpr[7] = 0x8000;  // rsp
  d.rip = 0x123;
  d.sel[hv::kCs] = 0x10;
  from_debug_regs(d, r, s, f);
  EXPECT_EQ(r.rsp, 0x8000u);
  EXPECT_EQ(r.rbp, 0u);
  EXPECT_EQ(r.rip, 0x123u);
  EXPECT_EQ(s.cs.selector, 0x10);
  EXPECT_EQ(s.cs.limit, 0xfffffu) << "descriptor caches are not the debugger's";
  EXPECT_EQ(s.cs.l, 1);
}

TEST(DebugConvert, GuestDebugControlBits) {
  EXPECT_EQ(to_kvm_guest_debug({}).control, 0u) << "disabled: no bits, the guest's own debug state applies";
  hv::GuestDebug g;
  g.enable = true;
  g.single_step = true;
  EXPECT_EQ(to_kvm_guest_debug(g).control, uint32_t(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP));
  g.single_step = false;
  g.sw_breakpoints = true;
  g.hw_breakpoints = true;
  g.dr = {0x100000, 0, 0, 0x2000};
  g.dr7 = 0x1 | (0x1 << 6);
  auto k = to_kvm_guest_debug(g);
  EXPECT_EQ(k.control, uint32_t(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP | KVM_GUESTDBG_USE_HW_BP));
  EXPECT_EQ(k.arch.debugreg[0], 0x100000u);
  EXPECT_EQ(k.arch.debugreg[3], 0x2000u);
  EXPECT_EQ(k.arch.debugreg[7], 0x41u);
  g.hw_breakpoints = false;
  EXPECT_EQ(to_kvm_guest_debug(g).arch.debugreg[0], 0u) << "debug registers only with USE_HW_BP";
}

}  // namespace
}  // namespace amber::kvm
