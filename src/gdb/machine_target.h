#pragma once
// gdb::Target over a running vmm::Machine. Every call is posted to the
// Machine's main loop (Machine::post_task), the one thread that pauses,
// resumes and saves, so the stub can never race a save or a reset.
#include <atomic>
#include <functional>

#include "gdb/session.h"
#include "vmm/machine.h"

namespace amber::gdb {

class MachineTarget final : public Target {
 public:
  explicit MachineTarget(vmm::Machine& m) : m_(m) {}
  // run() returned: calls from now on fail at once instead of waiting on a
  // main loop that is gone.
  void vm_ended() { ended_ = true; }

  uint32_t vcpu_count() override { return m_.vcpu_count(); }
  void stop() override;
  void resume(std::span<const hv::GuestDebug> debug, std::optional<uint32_t> only) override;
  hv::DebugRegs read_registers(uint32_t vcpu) override;
  void write_registers(uint32_t vcpu, const hv::DebugRegs& r) override;
  bool read_physical(uint64_t gpa, std::span<uint8_t> out) override;
  bool write_physical(uint64_t gpa, std::span<const uint8_t> in) override;
  void kill() override;

 private:
  void on_main(const std::function<void()>& fn);

  vmm::Machine& m_;
  std::atomic<bool> ended_{false};
};

}  // namespace amber::gdb
