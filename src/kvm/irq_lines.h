#pragma once
// IrqLine over KVM: KVM_IRQ_LINE (api.rst 4.25) for level-triggered lines,
// an eventfd bound with KVM_IRQFD (api.rst 4.75) for edge-triggered ones.
// A line keeps the raw VM fd: the Vm must outlive its lines.
#include <cstdint>

#include "amber/irq.h"
#include "kvm/fd.h"

namespace amber::kvm {

class KvmIrqLine final : public IrqLine {
 public:
  KvmIrqLine(int vm_fd, uint32_t gsi) : vm_fd_(vm_fd), gsi_(gsi) {}
  void set_level(bool high) noexcept override;
  // A pulse: level 1 then 0 (what an irqfd does in the kernel).
  void trigger() noexcept override;

 private:
  int vm_fd_;
  uint32_t gsi_;
};

class IrqfdLine final : public IrqLine {
 public:
  // Creates the eventfd and binds it to `gsi`; throws SysError("KVM_IRQFD: ...").
  IrqfdLine(int vm_fd, uint32_t gsi);
  ~IrqfdLine() override;
  // Level changes go through KVM_IRQ_LINE on the same GSI.
  void set_level(bool high) noexcept override;
  // Writes 1 to the eventfd: KVM injects one edge without a VM exit.
  void trigger() noexcept override;
  // KVM injects an irqfd's edge for an IOAPIC/PIC route from a work item
  // (virt/kvm/eventfd.c: irqfd_wakeup -> schedule_work(&irqfd->inject)),
  // so it may land after trigger() returned. Deassigning the irqfd waits
  // for that work (irqfd_shutdown: flush_work(&irqfd->inject); api.rst
  // 4.75); the same eventfd is then bound again. Only while nothing
  // triggers the line (the VM paused): an edge in between would be lost.
  void settle() override;
  int eventfd() const noexcept { return efd_.get(); }

 private:
  int vm_fd_;
  uint32_t gsi_;
  Fd efd_;
};

}  // namespace amber::kvm
