#pragma once
// An interrupt line into the guest's interrupt controller. The KVM
// implementation uses KVM_IRQ_LINE (level) or an irqfd (edge); tests use a
// recording fake.
namespace amber {

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  // Level-triggered use (16550 UART: the line follows the interrupt condition).
  virtual void set_level(bool high) noexcept = 0;
  // Edge-triggered use (virtio-mmio): one interrupt.
  virtual void trigger() noexcept = 0;
  // Returns once every interrupt trigger()ed so far has reached the
  // interrupt controller. A save calls it with every device quiet, before
  // it captures the vCPUs and the irqchip: an irqfd injects after trigger()
  // has returned (src/kvm/irq_lines.h). Throws Error when it cannot tell.
  virtual void settle() {}
};

}  // namespace amber
