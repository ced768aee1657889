#pragma once
// What a VM's vCPUs share: the /dev/kvm handle, the probed capabilities and
// the MSR list filtered once for the whole VM.
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "kvm/caps.h"
#include "kvm/kvm_system.h"

namespace amber::kvm {

struct VmShared {
  std::shared_ptr<const KvmSystem> sys;
  OptionalCaps caps;
  std::mutex msr_mu;
  // The MSRs KVM_GET_MSRS returns on this VM's vCPUs: filtered at the first
  // save_state (after KVM_SET_CPUID2, which decides some of them).
  std::optional<std::vector<uint32_t>> saved_msrs;
};

}  // namespace amber::kvm
