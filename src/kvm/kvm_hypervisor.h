#pragma once
// hv::Hypervisor over /dev/kvm: the entry point the VMM uses.
#include <memory>
#include <string>

#include "hv/hypervisor.h"
#include "kvm/kvm_system.h"

namespace amber::kvm {

class KvmHypervisor final : public hv::Hypervisor {
 public:
  // Opens /dev/kvm (Error with advice when there is none).
  explicit KvmHypervisor(const std::string& path = KvmSystem::kDefaultPath)
      : sys_(std::make_shared<const KvmSystem>(path)) {}
  std::unique_ptr<hv::Vm> create_vm() override;
  const KvmSystem& system() const noexcept { return *sys_; }

 private:
  std::shared_ptr<const KvmSystem> sys_;
};

}  // namespace amber::kvm
