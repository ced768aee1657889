#pragma once
// VM-wide state of the in-kernel devices and clock (docs/vcpu-state.md):
//   pic_master, pic_slave, ioapic  struct kvm_irqchip   KVM_GET/SET_IRQCHIP (api.rst 4.27/4.28)
//   pit2                           struct kvm_pit_state2 KVM_GET/SET_PIT2   (api.rst 4.55/4.56)
//   clock                          struct kvm_clock_data KVM_GET/SET_CLOCK  (api.rst 4.29/4.30)
#include "amber/state.h"
#include "kvm/caps.h"

namespace amber::kvm {

StateNode save_vm_state(int vm_fd, const OptionalCaps& caps);
// Restore order: irqchips, PIT, then the clock last so the guest's clock
// is set as close to resuming as possible.
void restore_vm_state(int vm_fd, const OptionalCaps& caps, const StateNode& n);

// The host's CLOCK_REALTIME in nanoseconds.
uint64_t host_realtime_ns();
// Host CLOCK_REALTIME nanoseconds elapsed since `saved_realtime_ns`; 0 when
// the host clock is behind it.
uint64_t elapsed_since(uint64_t saved_realtime_ns);

}  // namespace amber::kvm
