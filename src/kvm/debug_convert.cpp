#include "kvm/debug_convert.h"

#include <cstring>

namespace amber::kvm {
namespace {

// gdb numbers the first eight GPRs rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
// struct kvm_regs has rsp before rbp.
template <class Regs, class Fn>
void for_each_gpr(Regs& r, Fn fn) {
  fn(0, r.rax), fn(1, r.rbx), fn(2, r.rcx), fn(3, r.rdx), fn(4, r.rsi), fn(5, r.rdi), fn(6, r.rbp), fn(7, r.rsp);
  fn(8, r.r8), fn(9, r.r9), fn(10, r.r10), fn(11, r.r11), fn(12, r.r12), fn(13, r.r13), fn(14, r.r14), fn(15, r.r15);
}

template <class Sregs, class Fn>
void for_each_seg(Sregs& s, Fn fn) {
  fn(hv::kCs, s.cs), fn(hv::kSs, s.ss), fn(hv::kDs, s.ds), fn(hv::kEs, s.es), fn(hv::kFs, s.fs), fn(hv::kGs, s.gs);
}

// FXSAVE keeps an abridged tag (one bit per register: 1 = not empty); gdb
// shows the x87 tag word (two bits: 11 = empty). Non-empty registers are
// reported as "valid" (00) without classifying zero/special values.
uint32_t full_tag(uint8_t abridged) {
  uint32_t tag = 0;
  for (int i = 0; i < 8; ++i)
    if (!(abridged & (1u << i))) tag |= 3u << (2 * i);
  return tag;
}
uint8_t abridged_tag(uint32_t full) {
  uint8_t t = 0;
  for (int i = 0; i < 8; ++i)
    if (((full >> (2 * i)) & 3u) != 3u) t |= uint8_t(1u << i);
  return t;
}

}  // namespace

hv::DebugRegs to_debug_regs(const kvm_regs& r, const kvm_sregs& s, const kvm_fpu& f, uint64_t kernel_gs_base) {
  hv::DebugRegs d;
  for_each_gpr(r, [&](int i, const auto& v) { d.gpr[size_t(i)] = v; });
  d.rip = r.rip;
  d.rflags = r.rflags;
  for_each_seg(s, [&](int i, const kvm_segment& seg) { d.sel[size_t(i)] = seg.selector; });
  d.fs_base = s.fs.base;
  d.gs_base = s.gs.base;
  d.kernel_gs_base = kernel_gs_base;
  d.cr0 = s.cr0, d.cr2 = s.cr2, d.cr3 = s.cr3, d.cr4 = s.cr4, d.cr8 = s.cr8, d.efer = s.efer;
  for (size_t i = 0; i < 8; ++i) std::memcpy(d.st[i].data(), f.fpr[i], 16);
  d.fctrl = f.fcw;
  d.fstat = f.fsw;
  d.ftag = full_tag(f.ftwx);
  // The 64-bit FXSAVE layout: gdb's fioff/fiseg are the low/high halves of
  // the last instruction pointer, fooff/foseg of the last data pointer
  // (gdb amd64_supply_fxsave).
  d.fioff = uint32_t(f.last_ip), d.fiseg = uint32_t(f.last_ip >> 32);
  d.fooff = uint32_t(f.last_dp), d.foseg = uint32_t(f.last_dp >> 32);
  d.fop = f.last_opcode;
  for (size_t i = 0; i < 16; ++i) std::memcpy(d.xmm[i].data(), f.xmm[i], 16);
  d.mxcsr = f.mxcsr;
  return d;
}

void from_debug_regs(const hv::DebugRegs& d, kvm_regs& r, kvm_sregs& s, kvm_fpu& f) {
  for_each_gpr(r, [&](int i, auto& v) { v = d.gpr[size_t(i)]; });
  r.rip = d.rip;
  r.rflags = d.rflags;
  for_each_seg(s, [&](int i, kvm_segment& seg) { seg.selector = d.sel[size_t(i)]; });
  s.fs.base = d.fs_base;
  s.gs.base = d.gs_base;
  s.cr0 = d.cr0, s.cr2 = d.cr2, s.cr3 = d.cr3, s.cr4 = d.cr4, s.cr8 = d.cr8, s.efer = d.efer;
  for (size_t i = 0; i < 8; ++i) std::memcpy(f.fpr[i], d.st[i].data(), 16);
  f.fcw = uint16_t(d.fctrl);
  f.fsw = uint16_t(d.fstat);
  f.ftwx = abridged_tag(d.ftag);
  f.last_ip = uint64_t(d.fiseg) << 32 | d.fioff;
  f.last_dp = uint64_t(d.foseg) << 32 | d.fooff;
  f.last_opcode = uint16_t(d.fop);
  for (size_t i = 0; i < 16; ++i) std::memcpy(f.xmm[i], d.xmm[i].data(), 16);
  f.mxcsr = d.mxcsr;
}

kvm_guest_debug to_kvm_guest_debug(const hv::GuestDebug& g) {
  kvm_guest_debug k{};
  if (!g.enable) return k;  // control 0: KVM gives the guest its own DR7 and exceptions back
  k.control = KVM_GUESTDBG_ENABLE;
  if (g.single_step) k.control |= KVM_GUESTDBG_SINGLESTEP;
  if (g.sw_breakpoints) k.control |= KVM_GUESTDBG_USE_SW_BP;
  if (g.inject_bp) k.control |= KVM_GUESTDBG_INJECT_BP;
  if (g.hw_breakpoints) {
    k.control |= KVM_GUESTDBG_USE_HW_BP;
    for (size_t i = 0; i < 4; ++i) k.arch.debugreg[i] = g.dr[i];
    k.arch.debugreg[7] = g.dr7;
  }
  return k;
}

}  // namespace amber::kvm
