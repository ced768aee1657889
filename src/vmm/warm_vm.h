#pragma once
// A VM created ahead of the resume that will use it (issue 12 goal 2, the
// warm pool: docs/pool.md). Creating a VM is most of a resume's time on a
// native KVM (KVM_CREATE_IRQCHIP and the memory slots, docs/performance.md),
// and none of it depends on the image's contents, only on its shape: the
// vCPU count and the RAM layout. A WarmVm does that part early: the VM with
// its irqchip and PIT, every vCPU, and one memory slot per RAM range over
// address space reserved for it (PROT_NONE, nothing committed). The resume
// then maps the image's RAM over exactly those ranges (MAP_FIXED, which KVM
// follows through its MMU notifier) and restores state: no VM-creating
// ioctl is left on its path.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amber/mapping.h"
#include "hv/hypervisor.h"

namespace amber::vmm {

struct VmShape {
  uint32_t cpus = 1;
  uint64_t mem_bytes = 256ull << 20;
  bool operator==(const VmShape&) const = default;
  std::string describe() const;  // "1 vCPU, 256 MiB"
};

class WarmVm {
 public:
  // Creates the VM on `hv` (which must outlive this object): vCPUs and slots
  // for `shape`, RAM laid out as a fresh boot would (x86::ram_layout).
  WarmVm(hv::Hypervisor& hv, VmShape shape);
  ~WarmVm();
  WarmVm(const WarmVm&) = delete;
  WarmVm& operator=(const WarmVm&) = delete;

  const VmShape& shape() const { return shape_; }
  // Whether a machine of `cpus` vCPUs whose RAM regions are `ram` (guest
  // address, size) can run in this VM: exactly the same vCPU count and
  // ranges. Empty when it fits, else why not (for --timings and the docs).
  std::string mismatch(uint32_t cpus, const std::vector<std::pair<uint64_t, uint64_t>>& ram) const;
  // Where each RAM range's memory must be mapped (LazyOptions::place_at).
  std::vector<void*> ram_addresses() const;
  // Hands the VM out, once: a Hypervisor whose create_vm() returns it, whose
  // add_memory() accepts exactly the slots already registered (slot i at the
  // i-th range's reserved address) and whose create_vcpu() returns the
  // vCPUs already created. Anything else is refused with an Error, so a
  // mismatch can never silently run a guest on the wrong memory. The
  // WarmVm must outlive the Machine built on it.
  hv::Hypervisor& take();

 private:
  struct Parts;
  VmShape shape_;
  std::unique_ptr<Parts> parts_;
  std::vector<hv::MemorySlot> slots_;
  std::vector<Mapping> reserved_;  // released to whoever maps over them
  std::unique_ptr<hv::Hypervisor> handing_;
};

}  // namespace amber::vmm
