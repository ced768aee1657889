#include "kvm/kvm_vm.h"

#include <linux/kvm.h>

#include "kvm/irq_lines.h"
#include "kvm/kvm_vcpu.h"
#include "kvm/vm_state.h"

namespace amber::kvm {

KvmVm::KvmVm(std::shared_ptr<const KvmSystem> sys) : shared_(std::make_shared<VmShared>()) {
  fd_ = sys->create_vm_fd();
  // KVM_CHECK_EXTENSION on the VM fd (KVM_CAP_CHECK_EXTENSION_VM) answers
  // for this VM, e.g. the KVM_CAP_XSAVE2 size.
  CapProbe probe = [fd = fd_.get()](long cap) {
    int rc = ioctl_retry(fd, KVM_CHECK_EXTENSION, cap);
    return rc < 0 ? 0 : rc;
  };
  check_required_caps(probe);
  shared_->caps = probe_optional_caps(probe);
  shared_->sys = std::move(sys);

  // api.rst 4.48 KVM_SET_TSS_ADDR / 4.49 KVM_SET_IDENTITY_MAP_ADDR: both
  // before the first vCPU is created (Intel needs them for real mode; harmless on AMD).
  xioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(kTssAddr), "KVM_SET_TSS_ADDR");
  uint64_t ident = kIdentityMapAddr;
  xioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &ident, "KVM_SET_IDENTITY_MAP_ADDR");
  // api.rst 4.24 KVM_CREATE_IRQCHIP: PIC + IOAPIC, and a LAPIC per vCPU
  // created afterwards. 4.57 KVM_CREATE_PIT2: the dummy speaker port keeps
  // port 0x61 in the kernel.
  xioctl(fd_.get(), KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  xioctl(fd_.get(), KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
}

void KvmVm::add_memory(const hv::MemorySlot& s) {
  kvm_userspace_memory_region r{};
  r.slot = s.slot;
  r.guest_phys_addr = s.gpa;
  r.memory_size = s.size;
  r.userspace_addr = reinterpret_cast<uint64_t>(s.host);
  xioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
}

std::unique_ptr<hv::Vcpu> KvmVm::create_vcpu(uint32_t index, uint32_t total) {
  Fd vcpu(xioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(index), "KVM_CREATE_VCPU"));
  return std::make_unique<KvmVcpu>(shared_, std::move(vcpu), index, total);
}

std::unique_ptr<IrqLine> KvmVm::irq_line(uint32_t gsi) { return std::make_unique<KvmIrqLine>(fd_.get(), gsi); }

std::unique_ptr<IrqLine> KvmVm::irqfd_line(uint32_t gsi) { return std::make_unique<IrqfdLine>(fd_.get(), gsi); }

bool KvmVm::add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) {
  // api.rst 4.59 KVM_IOEVENTFD: an MMIO write of `len` bytes at `addr`
  // (matching `datamatch` when given) signals the eventfd without an exit.
  kvm_ioeventfd req{};
  req.addr = addr;
  req.len = len;
  req.fd = eventfd;
  if (datamatch) {
    req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    req.datamatch = *datamatch;
  }
  xioctl(fd_.get(), KVM_IOEVENTFD, &req, "KVM_IOEVENTFD");
  return true;
}

StateNode KvmVm::save_state() { return save_vm_state(fd_.get(), shared_->caps); }

void KvmVm::restore_state(const StateNode& n) { restore_vm_state(fd_.get(), shared_->caps, n); }

}  // namespace amber::kvm
