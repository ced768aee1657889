#pragma once
// The /dev/kvm handle (api.rst section 4: "system ioctls") and what amber
// reads from it once per process: the vCPU mmap size, the supported CPUID
// table and the MSR index list.
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kvm/fd.h"

namespace amber::kvm {

class KvmSystem {
 public:
  static constexpr int kApiVersion = 12;  // api.rst 4.1: "the only valid value is 12"
  static constexpr const char* kDefaultPath = "/dev/kvm";

  // Opens `path` and checks the API version; throws Error with advice when
  // the device is missing or unusable.
  explicit KvmSystem(const std::string& path = kDefaultPath);

  int fd() const noexcept { return fd_.get(); }
  // KVM_CHECK_EXTENSION on /dev/kvm; 0 when absent.
  int check_capability(long cap) const noexcept;
  // KVM_GET_VCPU_MMAP_SIZE: kvm_run plus the PIO data page (and more).
  size_t vcpu_mmap_size() const noexcept { return mmap_size_; }
  // KVM_GET_SUPPORTED_CPUID, unmodified.
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const noexcept { return cpuid_; }
  // KVM_GET_MSR_INDEX_LIST, unmodified (the vCPU filters it).
  const std::vector<uint32_t>& msr_index_list() const noexcept { return msr_list_; }
  // KVM_CREATE_VM (machine type 0).
  Fd create_vm_fd() const;

 private:
  Fd fd_;
  size_t mmap_size_ = 0;
  std::vector<kvm_cpuid_entry2> cpuid_;
  std::vector<uint32_t> msr_list_;
};

}  // namespace amber::kvm
