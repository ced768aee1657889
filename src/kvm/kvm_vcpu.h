#pragma once
// hv::Vcpu over a KVM vCPU fd and its mmapped struct kvm_run (api.rst 4.7
// KVM_CREATE_VCPU, 4.10 KVM_RUN, 5 "The kvm_run structure").
#include <linux/kvm.h>

#include <memory>
#include <vector>

#include "amber/mapping.h"
#include "hv/hypervisor.h"
#include "kvm/fd.h"
#include "kvm/vm_shared.h"

namespace amber::kvm {

class KvmVcpu final : public hv::Vcpu {
 public:
  // Maps kvm_run and gives the vCPU its CPUID (adjusted for index/total),
  // boot MSRs, FPU control words and LAPIC LINT0=ExtINT / LINT1=NMI.
  KvmVcpu(std::shared_ptr<VmShared> vm, Fd fd, uint32_t index, uint32_t total);

  uint32_t index() const override { return index_; }
  hv::VcpuExit run() override;
  void set_immediate_exit(bool on) noexcept override;
  // BSP only: APs stay in KVM's wait-for-SIPI state (in-kernel LAPIC).
  void set_boot_state(const CpuBootState& s) override;
  // On the vCPU's own thread, not inside run(). docs/vcpu-state.md.
  StateNode save_state() override;
  void restore_state(const StateNode& n) override;
  std::string describe_registers() override;
  // kvm_vcpu_debug.cpp
  hv::DebugRegs debug_registers() override;
  void set_debug_registers(const hv::DebugRegs& d) override;
  void set_guest_debug(const hv::GuestDebug& g) override;

  int fd() const noexcept { return fd_.get(); }
  const std::vector<kvm_cpuid_entry2>& cpuid() const noexcept { return cpuid_; }

 private:
  void set_cpuid(const std::vector<kvm_cpuid_entry2>& t);
  void init_msrs();
  void init_fpu();
  void init_lapic();
  // Re-enters KVM_RUN with immediate_exit set when the last exit was I/O or
  // MMIO, so KVM finishes the instruction before its state is read.
  void complete_pending_exit();

  std::shared_ptr<VmShared> vm_;
  Fd fd_;
  uint32_t index_;
  Mapping run_map_;
  kvm_run* run_ = nullptr;
  std::vector<kvm_cpuid_entry2> cpuid_;
  bool needs_completion_ = false;
};

}  // namespace amber::kvm
