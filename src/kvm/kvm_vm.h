#pragma once
// hv::Vm over a KVM VM fd (api.rst 4: "vm ioctls").
#include <memory>

#include "hv/hypervisor.h"
#include "kvm/fd.h"
#include "kvm/vm_shared.h"

namespace amber::kvm {

class KvmVm final : public hv::Vm {
 public:
  // KVM_SET_TSS_ADDR needs three pages and KVM_SET_IDENTITY_MAP_ADDR one,
  // inside guest physical space but outside RAM and the MMIO windows: just
  // below 4 GiB, above the LAPIC (the same spot Firecracker/QEMU use).
  static constexpr uint64_t kIdentityMapAddr = 0xfffb'c000;
  static constexpr uint64_t kTssAddr = 0xfffb'd000;

  // Creates the VM, checks the required capabilities (Error naming the
  // missing one), probes the optional ones, and creates the in-kernel
  // IRQ chip and PIT.
  explicit KvmVm(std::shared_ptr<const KvmSystem> sys);

  int fd() const noexcept { return fd_.get(); }
  const OptionalCaps& caps() const noexcept { return shared_->caps; }

  void add_memory(const hv::MemorySlot& slot) override;
  std::unique_ptr<hv::Vcpu> create_vcpu(uint32_t index, uint32_t total) override;
  std::unique_ptr<IrqLine> irq_line(uint32_t gsi) override;
  bool add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) override;
  std::unique_ptr<IrqLine> irqfd_line(uint32_t gsi) override;
  // Call with every vCPU paused; restore before the vCPUs' restore_state.
  StateNode save_state() override;
  void restore_state(const StateNode& n) override;

 private:
  Fd fd_;
  std::shared_ptr<VmShared> shared_;
};

}  // namespace amber::kvm
