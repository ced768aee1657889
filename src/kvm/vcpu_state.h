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

// KVM_SET_CPUID2, then the table the vCPU actually has (KVM_GET_CPUID2),
// which is what the guest sees and what a save must record: KVM may rewrite
// the table it is given (PVM replaces it with its own: other feature bits,
// fewer leaves), and KVM_SET_CPUID2 on a vCPU that has run is accepted only
// with the table it already has (api.rst KVM_SET_CPUID2; an in-place reset
// depends on it). Where KVM_GET_CPUID2 fails, the table given.
std::vector<kvm_cpuid_entry2> set_vcpu_cpuid(int vcpu_fd, std::span<const kvm_cpuid_entry2> table);

StateNode save_vcpu_state(int vcpu_fd, VmShared& vm, std::span<const kvm_cpuid_entry2> cpuid);
// Validates every property, then applies them in order; returns the CPUID
// table the vCPU has afterwards (set_vcpu_cpuid).
std::vector<kvm_cpuid_entry2> restore_vcpu_state(int vcpu_fd, const VmShared& vm, const StateNode& n);

}  // namespace amber::kvm
