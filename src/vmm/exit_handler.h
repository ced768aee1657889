#pragma once
// vCPU exit handling as a pure function over an exit value and the two
// buses (Firecracker's handle_kvm_exit is the model): unit-tested with
// made-up exits, no KVM needed.
#include <string>

#include "amber/bus.h"
#include "hv/hypervisor.h"

namespace amber::vmm {

enum class ExitAction {
  kContinue,     // re-enter the guest
  kInterrupted,  // a kick (pause/stop/save request): look at the command channel
  kHalted,       // HLT reached userspace: this vCPU has nothing more to do
  kReset,        // the guest asked for a reset (system event)
  kShutdown,     // triple fault: Linux with reboot=t, or a crashed guest
  kError,        // entry failure or KVM internal error: the VM cannot go on
};

struct ExitResult {
  ExitAction action = ExitAction::kContinue;
  std::string error;  // for kError
};

// Dispatches port and MMIO accesses to the buses (rep string I/O element by
// element, in order) and classifies the rest. Never throws.
ExitResult handle_exit(const hv::VcpuExit& exit, const Bus& pio, const Bus& mmio) noexcept;

}  // namespace amber::vmm
