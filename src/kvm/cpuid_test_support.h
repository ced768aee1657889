#pragma once
// One CPUID entry for the pure CPUID tests (cpuid_test, cpu_features_test).
#include <linux/kvm.h>

#include <cstdint>

namespace amber::kvm::testing {

inline kvm_cpuid_entry2 entry(uint32_t fn, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx,
                              bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

}  // namespace amber::kvm::testing
