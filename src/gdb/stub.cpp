#include "gdb/stub.h"

#include <fmt/core.h>

#include "amber/error.h"
#include "kvm/guest_debug_probe.h"

namespace amber::gdb {

Stub::Stub(vmm::Machine& m, const std::string& endpoint, bool wait, const std::string& device)
    : m_(m), target_(m) {
  auto support = kvm::probe_guest_debug(device);
  // Without single-step exits neither stepi nor the emulated breakpoints
  // can work: refuse up front instead of a debugger that never stops.
  if (!support.single_step)
    throw Error(fmt::format("--gdb: this KVM does not single-step guests ({}); a debugger needs it", support.detail));
  bool emulate = !support.sw_breakpoints || !support.hw_breakpoints;
  if (emulate)
    note_ = fmt::format("this KVM does not deliver breakpoint exits ({}): breakpoints and write watchpoints are "
                        "emulated by single-stepping, which is slow (docs/debugging.md)",
                        support.detail);
  server_ = std::make_unique<Server>(endpoint, target_, sw_, wait, emulate);
  auto read = [&mem = m.memory()](uint64_t gpa, uint8_t& b) {
    auto v = mem.read_obj<uint8_t>(gpa);
    if (v) b = *v;
    return v.has_value();
  };
  auto write = [&mem = m.memory()](uint64_t gpa, uint8_t b) { return mem.write_obj(gpa, b); };
  vmm::DebugHooks hooks;
  hooks.on_trap = [this](uint32_t vcpu, const hv::DebugTrap& t) { server_->post_trap(vcpu, t); };
  hooks.before_save = [this, read, write] { sw_.lift(write, read); };
  hooks.after_save = [this, write] { sw_.restore(write); };
  hooks.after_reset = [this, read, write] { sw_.reinsert(read, write); };
  m.set_debug_hooks(std::move(hooks));
  server_->start();
}

Stub::~Stub() {
  if (!ended_) vm_ended(0);
  m_.set_debug_hooks({});
}

void Stub::vm_ended(int status) {
  ended_ = true;
  target_.vm_ended();
  server_->vm_ended(status);
}

}  // namespace amber::gdb
