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
};

}  // namespace amber
