#pragma once
// --gdb on a Machine: the server, its Target, the software-breakpoint
// table, and the Machine's debug hooks (traps to the server; breakpoints
// lifted out of RAM while a save captures it), set up in one place.
#include <memory>
#include <string>

#include "gdb/breakpoints.h"
#include "gdb/machine_target.h"
#include "gdb/server.h"
#include "vmm/machine.h"

namespace amber::gdb {

class Stub {
 public:
  // Listens on `endpoint` (server.h) before the VM starts; with `wait`,
  // the caller starts the VM paused (RunOptions::start_paused).
  // Probes the KVM at `device` for breakpoint exits first
  // (kvm/guest_debug_probe.h); `note` says when breakpoints are emulated.
  Stub(vmm::Machine& m, const std::string& endpoint, bool wait, const std::string& device);
  ~Stub();
  const std::string& address() const { return server_->address(); }
  const std::string& note() const { return note_; }
  // After Machine::run() returned: a waiting gdb gets the exit status.
  void vm_ended(int status);

 private:
  vmm::Machine& m_;
  SoftwareBreakpoints sw_;
  MachineTarget target_;
  std::unique_ptr<Server> server_;
  bool ended_ = false;
  std::string note_;
};

}  // namespace amber::gdb
