#include "kvm/irq_lines.h"

#include <linux/kvm.h>
#include <sys/eventfd.h>

#include "amber/log.h"

namespace amber::kvm {
namespace {

log::RateLimit g_irq_warn;

void irq_line(int vm_fd, uint32_t gsi, uint32_t level) noexcept {
  kvm_irq_level l{};
  l.irq = gsi;
  l.level = level;
  if (ioctl_retry(vm_fd, KVM_IRQ_LINE, &l) < 0)
    log::guest_warn(g_irq_warn, "KVM_IRQ_LINE gsi {}: {}", gsi, std::strerror(errno));
}

}  // namespace

void KvmIrqLine::set_level(bool high) noexcept { irq_line(vm_fd_, gsi_, high ? 1 : 0); }

void KvmIrqLine::trigger() noexcept {
  irq_line(vm_fd_, gsi_, 1);
  irq_line(vm_fd_, gsi_, 0);
}

IrqfdLine::IrqfdLine(int vm_fd, uint32_t gsi) : vm_fd_(vm_fd), gsi_(gsi) {
  efd_.reset(check_sys(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
  kvm_irqfd req{};
  req.fd = static_cast<uint32_t>(efd_.get());
  req.gsi = gsi;
  xioctl(vm_fd, KVM_IRQFD, &req, "KVM_IRQFD");
}

void IrqfdLine::settle() {
  kvm_irqfd req{};
  req.fd = static_cast<uint32_t>(efd_.get());
  req.gsi = gsi_;
  req.flags = KVM_IRQFD_FLAG_DEASSIGN;
  xioctl(vm_fd_, KVM_IRQFD, &req, "KVM_IRQFD (deassign, to settle its injections)");
  req.flags = 0;
  // The eventfd's count is 0: irqfd_wakeup consumed it when trigger()
  // wrote it, so binding it again injects nothing new.
  xioctl(vm_fd_, KVM_IRQFD, &req, "KVM_IRQFD (bind again)");
}

IrqfdLine::~IrqfdLine() {
  kvm_irqfd req{};
  req.fd = static_cast<uint32_t>(efd_.get());
  req.gsi = gsi_;
  req.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ioctl_retry(vm_fd_, KVM_IRQFD, &req);  // best effort: closing the VM drops it too
}

void IrqfdLine::set_level(bool high) noexcept { irq_line(vm_fd_, gsi_, high ? 1 : 0); }

void IrqfdLine::trigger() noexcept {
  uint64_t one = 1;
  // EAGAIN only when the counter would overflow: an interrupt is pending anyway.
  if (::write(efd_.get(), &one, sizeof(one)) < 0 && errno != EAGAIN)
    log::guest_warn(g_irq_warn, "irqfd gsi {}: {}", gsi_, std::strerror(errno));
}

}  // namespace amber::kvm
