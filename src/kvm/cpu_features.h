#pragma once
// Resume pre-flight for CPU features: the image's CPUID table (what its guest
// was shown, and may be using) against what this host's KVM offers (the
// table a fresh vCPU got here; restore_vcpu_state). A guest shown a feature the host lacks would
// take #UD, or worse, the first time it uses it, long after the resume; so
// the resume is refused up front naming every missing feature (issue 11).
#include <linux/kvm.h>

#include <span>
#include <string>
#include <vector>

namespace amber::kvm {

// "avx512f (leaf 0x7 EBX bit 16)" for every feature bit set in `image` and
// clear in `supported`, over the feature registers of leaves 0x1, 0x7.0,
// 0x7.1, 0xd.1, 0x80000001, 0x80000007 and 0x80000008. Bits the VMM or the
// guest's own state decide are not features of the host and are skipped:
// leaf 0x1 ECX OSXSAVE (CR4), ECX TSC-deadline (KVM emulates it; amber sets
// it), ECX hypervisor, EDX HTT (the vCPU count); leaf 0x7 ECX OSPKE (CR4).
// A leaf the image has and the host lacks counts all its bits as missing.
std::vector<std::string> missing_cpu_features(std::span<const kvm_cpuid_entry2> image,
                                              std::span<const kvm_cpuid_entry2> supported);

}  // namespace amber::kvm
