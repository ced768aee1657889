#include "gdb/machine_target.h"

#include <chrono>
#include <cstring>
#include <future>

#include "amber/error.h"

namespace amber::gdb {

void MachineTarget::on_main(const std::function<void()>& fn) {
  if (ended_) throw Error("the VM has ended");
  auto task = std::make_shared<std::packaged_task<void()>>(fn);
  auto done = task->get_future();
  m_.post_task([task] { (*task)(); });
  // A task still queued when run() returns never runs: poll for that end.
  while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    if (ended_) throw Error("the VM has ended");
  done.get();  // rethrows the task's error
}

void MachineTarget::stop() {
  on_main([this] {
    if (!m_.paused()) m_.pause_all();
  });
}

void MachineTarget::resume(std::span<const hv::GuestDebug> debug, std::optional<uint32_t> only) {
  on_main([&] {
    // A trapped vCPU is parked but the others may run: park them all
    // before touching any vCPU's debug state.
    if (!m_.paused()) m_.pause_all();
    for (uint32_t i = 0; i < m_.vcpu_count() && i < debug.size(); ++i)
      m_.run_on_vcpu(i, [&](hv::Vcpu& v) { v.set_guest_debug(debug[i]); });
    if (only)
      m_.resume_vcpu(*only);
    else
      m_.resume_all();
  });
}

hv::DebugRegs MachineTarget::read_registers(uint32_t vcpu) {
  hv::DebugRegs r;
  on_main([&] { m_.run_on_vcpu(vcpu, [&](hv::Vcpu& v) { r = v.debug_registers(); }); });
  return r;
}

void MachineTarget::write_registers(uint32_t vcpu, const hv::DebugRegs& r) {
  on_main([&] { m_.run_on_vcpu(vcpu, [&](hv::Vcpu& v) { v.set_debug_registers(r); }); });
}

// Guest RAM is mapped for the Machine's lifetime; reads and writes go
// straight to it (the VM is stopped while gdb looks).
bool MachineTarget::read_physical(uint64_t gpa, std::span<uint8_t> out) {
  auto s = m_.memory().try_slice(gpa, out.size());
  if (!s) return false;
  std::memcpy(out.data(), s->data(), out.size());
  return true;
}

bool MachineTarget::write_physical(uint64_t gpa, std::span<const uint8_t> in) {
  auto s = m_.memory().try_slice(gpa, in.size());
  if (!s) return false;
  std::memcpy(s->data(), in.data(), in.size());
  return true;
}

void MachineTarget::kill() { m_.request_stop(vmm::StopReason::kQuit); }

}  // namespace amber::gdb
