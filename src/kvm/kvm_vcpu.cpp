#include "kvm/kvm_vcpu.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "kvm/boot_regs.h"
#include "kvm/cpuid.h"
#include "kvm/exit_decode.h"
#include "kvm/flex_buf.h"
#include "kvm/kvm_abi.h"
#include "kvm/msrs.h"
#include "kvm/vcpu_state.h"

namespace amber::kvm {
namespace {

// Local APIC register offsets (SDM vol. 3A table 10-1) in kvm_lapic_state.regs.
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kApicModeNmi = 0x4;
constexpr uint32_t kApicModeExtInt = 0x7;

uint32_t get_reg(const kvm_lapic_state& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, 4);
  return v;
}
void set_reg(kvm_lapic_state& s, size_t off, uint32_t v) { std::memcpy(s.regs + off, &v, 4); }
// LVT delivery mode is bits 10:8.
uint32_t with_delivery_mode(uint32_t reg, uint32_t mode) { return (reg & ~0x700u) | (mode << 8); }

}  // namespace

KvmVcpu::KvmVcpu(std::shared_ptr<VmShared> vm, Fd fd, uint32_t index, uint32_t total)
    : vm_(std::move(vm)), fd_(std::move(fd)), index_(index) {
  size_t size = vm_->sys->vcpu_mmap_size();
  run_map_ = Mapping::file(fd_.get(), size, 0, PROT_READ | PROT_WRITE, MAP_SHARED);
  run_ = reinterpret_cast<kvm_run*>(run_map_.data());
  set_cpuid(adjust_cpuid(vm_->sys->supported_cpuid(), index, total,
                         vm_->sys->check_capability(KVM_CAP_TSC_DEADLINE_TIMER) > 0));
  init_msrs();
  init_fpu();
  init_lapic();
}

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& t) { cpuid_ = set_vcpu_cpuid(fd_.get(), t); }

void KvmVcpu::init_msrs() {
  auto msrs = boot_msrs();
  MsrBuf buf(msrs.size());
  buf.get()->nmsrs = static_cast<uint32_t>(msrs.size());
  buf.assign(msrs);
  int n = xioctl(fd_.get(), kKvmSetMsrs, buf.get(), "KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size())
    throw Error(fmt::format("KVM_SET_MSRS: boot MSR {:#x} was refused", msrs[n].index));
}

void KvmVcpu::init_fpu() {
  // x87 FNINIT state and the SSE reset value of MXCSR (all exceptions masked).
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  xioctl(fd_.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

void KvmVcpu::init_lapic() {
  // LINT0 = ExtINT (the 8259 PIC's output), LINT1 = NMI: the virtual-wire
  // wiring the MP spec (and Linux's early boot) expects.
  kvm_lapic_state s{};
  xioctl(fd_.get(), KVM_GET_LAPIC, &s, "KVM_GET_LAPIC");
  set_reg(s, kApicLvtLint0, with_delivery_mode(get_reg(s, kApicLvtLint0), kApicModeExtInt));
  set_reg(s, kApicLvtLint1, with_delivery_mode(get_reg(s, kApicLvtLint1), kApicModeNmi));
  xioctl(fd_.get(), KVM_SET_LAPIC, &s, "KVM_SET_LAPIC");
}

hv::VcpuExit KvmVcpu::run() {
  int rc = ::ioctl(fd_.get(), KVM_RUN, 0);
  if (rc < 0) {
    // EINTR: a signal or immediate_exit; either way KVM finished any
    // pending I/O first (api.rst 5, immediate_exit).
    if (errno == EINTR || errno == EAGAIN) {
      needs_completion_ = false;
      return hv::Interrupted{};
    }
    throw SysError("KVM_RUN", errno);
  }
  needs_completion_ = exit_needs_completion(*run_);
  return decode_exit(*run_, run_map_.size());
}

void KvmVcpu::set_immediate_exit(bool on) noexcept {
  // A single byte store into the shared page: async-signal-safe.
  __atomic_store_n(&run_->immediate_exit, static_cast<__u8>(on ? 1 : 0), __ATOMIC_RELAXED);
}

void KvmVcpu::set_boot_state(const CpuBootState& s) {
  if (index_ != 0) throw Error(fmt::format("set_boot_state on vCPU {}: only the BSP gets a boot state", index_));
  kvm_sregs base{};
  xioctl(fd_.get(), KVM_GET_SREGS, &base, "KVM_GET_SREGS");
  kvm_sregs sregs = boot_sregs(s, base);
  xioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
  kvm_regs regs = boot_regs(s);
  xioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

void KvmVcpu::complete_pending_exit() {
  if (!needs_completion_) return;
  uint8_t old = __atomic_load_n(&run_->immediate_exit, __ATOMIC_RELAXED);
  set_immediate_exit(true);
  int rc = ::ioctl(fd_.get(), KVM_RUN, 0);
  int err = errno;
  set_immediate_exit(old != 0);
  if (rc == 0)
    throw Error(fmt::format("vCPU {}: completing the last I/O exit produced another exit (reason {})", index_,
                            run_->exit_reason));
  if (err != EINTR && err != EAGAIN) throw SysError("KVM_RUN", err);
  needs_completion_ = false;
}

std::string KvmVcpu::describe_registers() {
  kvm_regs r{};
  kvm_sregs s{};
  if (ioctl_retry(fd_.get(), KVM_GET_REGS, &r) < 0 || ioctl_retry(fd_.get(), KVM_GET_SREGS, &s) < 0)
    return fmt::format("(registers unreadable: {})", std::strerror(errno));
  return fmt::format("rip={:#x} rsp={:#x} rflags={:#x} cs={:#x} cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x} efer={:#x} "
                     "idt={:#x}/{:#x} gdt={:#x}/{:#x} tr={:#x}",
                     r.rip, r.rsp, r.rflags, s.cs.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.idt.base,
                     s.idt.limit, s.gdt.base, s.gdt.limit, s.tr.base);
}

StateNode KvmVcpu::save_state() {
  complete_pending_exit();
  return save_vcpu_state(fd_.get(), *vm_, cpuid_);
}

void KvmVcpu::restore_state(const StateNode& n) {
  auto cpuid = restore_vcpu_state(fd_.get(), *vm_, n);
  cpuid_ = std::move(cpuid);
  needs_completion_ = false;
}

}  // namespace amber::kvm
