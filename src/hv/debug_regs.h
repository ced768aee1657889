#pragma once
// What a debugger sees of a vCPU and how it steers it: the x86-64 register
// file gdb's remote protocol carries (src/gdb/target_xml.h lays it out) and
// the hardware's guest-debug controls (api.rst 4.59 KVM_SET_GUEST_DEBUG).
#include <array>
#include <cstdint>

namespace amber::hv {

// Segment registers in gdb's order (cs, ss, ds, es, fs, gs).
enum SegReg : int { kCs, kSs, kDs, kEs, kFs, kGs, kNumSegs };

struct DebugRegs {
  // rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8..r15: gdb's order, not KVM's.
  std::array<uint64_t, 16> gpr{};
  uint64_t rip = 0, rflags = 0;
  std::array<uint16_t, kNumSegs> sel{};
  uint64_t fs_base = 0, gs_base = 0, kernel_gs_base = 0;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0, efer = 0;
  // x87 and SSE (KVM_GET_FPU, struct kvm_fpu): 80-bit registers in their
  // 16-byte slots, the full (not abridged) tag word.
  std::array<std::array<uint8_t, 16>, 8> st{};
  uint32_t fctrl = 0, fstat = 0, ftag = 0, fiseg = 0, fioff = 0, foseg = 0, fooff = 0, fop = 0;
  std::array<std::array<uint8_t, 16>, 16> xmm{};
  uint32_t mxcsr = 0;
  bool operator==(const DebugRegs&) const = default;
};

// One vCPU's guest-debug settings (KVM_GUESTDBG_* in api.rst 4.59).
struct GuestDebug {
  bool enable = false;       // off: the guest's own debug registers and #DB/#BP apply
  bool single_step = false;  // a #DB exit after one instruction
  bool sw_breakpoints = false;  // every #BP (int3) exits to the VMM
  bool hw_breakpoints = false;  // dr[0..3] and dr7 below replace the guest's
  // Deliver a #BP to the guest on the next entry: an int3 of the guest's
  // own that exited because sw_breakpoints is on (KVM_GUESTDBG_INJECT_BP).
  bool inject_bp = false;
  std::array<uint64_t, 4> dr{};
  uint64_t dr7 = 0;
  bool operator==(const GuestDebug&) const = default;
};

}  // namespace amber::hv
