// KvmVcpu's debugger interface (hv::Vcpu::debug_registers and friends) over
// KVM_GET/SET_REGS, _SREGS, _FPU, one MSR and KVM_SET_GUEST_DEBUG.
#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "kvm/debug_convert.h"
#include "kvm/fd.h"
#include "kvm/kvm_abi.h"
#include "kvm/kvm_vcpu.h"
#include "kvm/msrs.h"

namespace amber::kvm {
namespace {

uint64_t read_msr(int fd, uint32_t index) {
  MsrBuf b(1);
  b.get()->nmsrs = 1;
  b.entries()[0].index = index;
  if (xioctl(fd, kKvmGetMsrs, b.get(), "KVM_GET_MSRS") != 1)
    throw Error(fmt::format("KVM_GET_MSRS: MSR {:#x} could not be read", index));
  return b.entries()[0].data;
}

void write_msr(int fd, uint32_t index, uint64_t value) {
  MsrBuf b(1);
  b.get()->nmsrs = 1;
  b.entries()[0].index = index;
  b.entries()[0].data = value;
  if (xioctl(fd, kKvmSetMsrs, b.get(), "KVM_SET_MSRS") != 1)
    throw Error(fmt::format("KVM_SET_MSRS: MSR {:#x} was refused", index));
}

// What a debugger's register file is read from and written back into.
struct KvmRegFile {
  kvm_regs r{};
  kvm_sregs s{};
  kvm_fpu f{};
};

KvmRegFile read_reg_file(int fd) {
  KvmRegFile k;
  xioctl(fd, KVM_GET_REGS, &k.r, "KVM_GET_REGS");
  xioctl(fd, KVM_GET_SREGS, &k.s, "KVM_GET_SREGS");
  xioctl(fd, KVM_GET_FPU, &k.f, "KVM_GET_FPU");
  return k;
}

}  // namespace

hv::DebugRegs KvmVcpu::debug_registers() {
  complete_pending_exit();  // RIP past an I/O instruction, as a save would see it
  KvmRegFile k = read_reg_file(fd_.get());
  return to_debug_regs(k.r, k.s, k.f, read_msr(fd_.get(), kMsrKernelGsBase));
}

void KvmVcpu::set_debug_registers(const hv::DebugRegs& d) {
  complete_pending_exit();
  KvmRegFile k = read_reg_file(fd_.get());
  auto& [r, s, f] = k;
  kvm_sregs before = s;
  from_debug_regs(d, r, s, f);
  xioctl(fd_.get(), KVM_SET_REGS, &r, "KVM_SET_REGS");
  // KVM_SET_SREGS also reloads the MMU and pending-interrupt bitmap: only
  // when the debugger changed a segment or control register.
  if (std::memcmp(&before, &s, sizeof s) != 0) xioctl(fd_.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS");
  xioctl(fd_.get(), KVM_SET_FPU, &f, "KVM_SET_FPU");
  write_msr(fd_.get(), kMsrKernelGsBase, d.kernel_gs_base);
}

void KvmVcpu::set_guest_debug(const hv::GuestDebug& g) {
  kvm_guest_debug k = to_kvm_guest_debug(g);
  xioctl(fd_.get(), KVM_SET_GUEST_DEBUG, &k, "KVM_SET_GUEST_DEBUG");
}

}  // namespace amber::kvm
