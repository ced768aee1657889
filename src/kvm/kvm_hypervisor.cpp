#include "kvm/kvm_hypervisor.h"

#include "kvm/kvm_vm.h"

namespace amber::kvm {

std::unique_ptr<hv::Vm> KvmHypervisor::create_vm() { return std::make_unique<KvmVm>(sys_); }

}  // namespace amber::kvm
