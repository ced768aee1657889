#pragma once
// KVM's register structs <-> the debugger's register file (hv::DebugRegs),
// and hv::GuestDebug -> struct kvm_guest_debug (api.rst 4.59). Pure, so the
// orders and tag-word rules are unit-tested without KVM.
#include <linux/kvm.h>

#include "hv/debug_regs.h"

namespace amber::kvm {

hv::DebugRegs to_debug_regs(const kvm_regs& r, const kvm_sregs& s, const kvm_fpu& f, uint64_t kernel_gs_base);
// Writes `d` into the structs read just before (fields a debugger cannot
// see, such as segment descriptors' cached limits, are left as they were).
void from_debug_regs(const hv::DebugRegs& d, kvm_regs& r, kvm_sregs& s, kvm_fpu& f);
kvm_guest_debug to_kvm_guest_debug(const hv::GuestDebug& g);

}  // namespace amber::kvm
