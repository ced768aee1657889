#pragma once
// A vCPU's architectural state as raw KVM structs, one property per ioctl
// (docs/vcpu-state.md has the order and why):
//   mp_state     kvm_mp_state     regs      kvm_regs       sregs  kvm_sregs
//   xsave        4096-byte kvm_xsave (KVM_GET_XSAVE2 size when larger) | fpu kvm_fpu
//   xcrs         kvm_xcrs         debugregs kvm_debugregs  lapic  kvm_lapic_state
//   msrs         kvm_msrs + entries          cpuid     kvm_cpuid2 + entries
//   tsc_khz      u32 (little endian)         vcpu_events kvm_vcpu_events
#include <linux/kvm.h>

#include <span>
#include <vector>

#include "amber/state.h"
#include "kvm/vm_shared.h"

namespace amber::kvm {

// KVM_MAX_CPUID_ENTRIES in arch/x86/include/asm/kvm_host.h.
inline constexpr size_t kMaxCpuidEntries = 256;

StateNode save_vcpu_state(int vcpu_fd, VmShared& vm, std::span<const kvm_cpuid_entry2> cpuid);
// Validates every property, then applies them in order; returns the CPUID
// table it set.
std::vector<kvm_cpuid_entry2> restore_vcpu_state(int vcpu_fd, const VmShared& vm, const StateNode& n);

}  // namespace amber::kvm
