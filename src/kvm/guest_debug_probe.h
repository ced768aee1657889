#pragma once
// Whether this KVM delivers guest-debug breakpoint exits, found by running
// a probe guest, never assumed: nested KVM under QEMU-TCG (the sandbox,
// docs/sandbox.md) single-steps fine but lets int3 reach the guest instead
// of exiting on it (TCG checks an INT3 instruction against the INTn
// intercept, not the #BP exception intercept KVM sets), and does not arm
// DR7 breakpoints loaded by VMRUN. The gdb stub then emulates breakpoints
// by single-stepping (docs/debugging.md).
#include <string>

namespace amber::kvm {

struct GuestDebugSupport {
  bool single_step = false;
  bool sw_breakpoints = false;  // an int3 exits with KVM_EXIT_DEBUG (#BP)
  bool hw_breakpoints = false;  // a DR0/DR7 execution breakpoint exits (#DB)
  std::string detail;           // what the probe saw, for -v and docs
};

GuestDebugSupport probe_guest_debug(const std::string& device);

}  // namespace amber::kvm
