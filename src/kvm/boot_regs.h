#pragma once
// amber::CpuBootState -> kvm_regs / kvm_sregs (api.rst 4.11 KVM_SET_REGS,
// 4.13 KVM_SET_SREGS). Pure functions, tested without /dev/kvm.
#include <linux/kvm.h>

#include "amber/cpu_boot_state.h"

namespace amber::kvm {

inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Et = 1ull << 4;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;
inline constexpr uint64_t kRflagsReserved1 = 1ull << 1;

kvm_segment to_kvm_segment(const SegmentDesc& d);

// General registers: rip/rsp/rbp/rsi/rbx/rflags from the state, the rest 0.
kvm_regs boot_regs(const CpuBootState& s);

// Special registers: `base` is the vCPU's current KVM_GET_SREGS (it keeps
// KVM's APIC base, TR and LDTR). The control registers are the given ones
// plus the bits the mode cannot run without (PE; PG+PAE+LME+LMA in long
// mode); real mode clears PE and PG.
kvm_sregs boot_sregs(const CpuBootState& s, const kvm_sregs& base);

}  // namespace amber::kvm
