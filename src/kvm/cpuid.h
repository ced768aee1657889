#pragma once
// The per-vCPU CPUID table: KVM_GET_SUPPORTED_CPUID adjusted for the vCPU's
// APIC ID and the VM's vCPU count (api.rst 4.46 KVM_GET_SUPPORTED_CPUID says
// userspace must fill in topology; KVM leaves it to us). A pure function so
// it is tested without /dev/kvm.
#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

namespace amber::kvm {

inline constexpr uint32_t kCpuidLeafFeatures = 0x1;
inline constexpr uint32_t kCpuidLeafCacheParams = 0x4;
inline constexpr uint32_t kCpuidLeafTopology = 0xb;
inline constexpr uint32_t kCpuidLeafTopologyV2 = 0x1f;
inline constexpr uint32_t kCpuidLeafKvmSignature = 0x40000000;
inline constexpr uint32_t kCpuidLeafAmdFeatures = 0x80000001;
inline constexpr uint32_t kCpuidLeafAmdSizes = 0x80000008;
inline constexpr uint32_t kCpuidLeafAmdExtApicId = 0x8000001e;

inline constexpr uint32_t kCpuidEcxHypervisor = 1u << 31;  // leaf 1 ECX[31]
inline constexpr uint32_t kCpuidEdxHtt = 1u << 28;         // leaf 1 EDX[28]
inline constexpr uint32_t kCpuidEcxVmx = 1u << 5;          // leaf 1 ECX[5] (SDM vol. 2A)
inline constexpr uint32_t kCpuidEcxSvm = 1u << 2;          // Fn8000_0001 ECX[2] (AMD APM vol. 3)

// The CPUID table for vCPU `apic_id` of a VM with `total` vCPUs, one thread
// per core and one package. Entries not mentioned here (including the KVM
// paravirt leaves 0x40000000.., so the guest finds kvm-clock) pass through.
// VMX and SVM are hidden: amber saves no nested-virtualization state
// (KVM_GET_NESTED_STATE), so an image taken while the guest ran a VM of its
// own could not resume it (issue 11); a guest that sees neither runs none.
// `tsc_deadline`: the in-kernel LAPIC emulates the TSC-deadline timer
// (KVM_CAP_TSC_DEADLINE_TIMER). KVM_GET_SUPPORTED_CPUID leaves leaf 1
// ECX[24] to userspace (api.rst KVM_GET_SUPPORTED_CPUID); without it Linux
// calibrates the LAPIC timer at boot, which costs up to seconds.
std::vector<kvm_cpuid_entry2> adjust_cpuid(std::span<const kvm_cpuid_entry2> supported, uint32_t apic_id,
                                           uint32_t total, bool tsc_deadline = false);

// Finds an entry (index is ignored for leaves without
// KVM_CPUID_FLAG_SIGNIFCANT_INDEX); nullptr when absent.
const kvm_cpuid_entry2* find_cpuid(std::span<const kvm_cpuid_entry2> t, uint32_t function, uint32_t index = 0);

}  // namespace amber::kvm
