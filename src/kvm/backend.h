#pragma once
// Which implementation of /dev/kvm this host has. It decides what guests can
// run (shared/docs/kvm-environments.md): VT-x (kvm_intel) and AMD-V (kvm_amd)
// run unmodified Linux; PVM (kvm_pvm, "pagetable-based virtual machine",
// virtualisation without VT-x/AMD-V) runs bare-metal guests, and Linux guests
// not at all. Decided by the vendor module the kernel has loaded, never by
// whether the device opens.
#include <string>

namespace amber::kvm {

enum class KvmBackend { intel, amd, pvm, unknown };

// The facts the decision rests on, read from the running kernel and CPU.
struct BackendFacts {
  bool intel_module = false;  // /sys/module/kvm_intel
  bool amd_module = false;    // /sys/module/kvm_amd
  bool pvm_module = false;    // /sys/module/kvm_pvm
  bool cpu_vmx = false;       // CPUID.1:ECX.VMX[bit 5] (Intel SDM vol. 2A, CPUID)
  bool cpu_svm = false;       // CPUID.80000001h:ECX.SVM[bit 2] (AMD APM vol. 3, E.4.2)
};

// Pure: the loaded vendor module wins (KVM takes one vendor module at a time);
// with none visible, a CPU that has VMX or SVM is taken for that vendor.
KvmBackend classify_backend(const BackendFacts& f);

// Reads the module directory (`sysfs_module_dir`, normally /sys/module) and
// the CPU's own CPUID. The default directory is read once per process and
// remembered (a jailed amber reads it before it loses /sys).
BackendFacts read_backend_facts(const std::string& sysfs_module_dir = "/sys/module");

KvmBackend detect_kvm_backend();

const char* backend_name(KvmBackend b);  // "intel", "amd", "pvm", "unknown"

// Whether an unmodified Linux kernel boots on this backend.
bool runs_unmodified_linux(KvmBackend b);

}  // namespace amber::kvm
