#include "vmm/warm_vm.h"

#include <sys/mman.h>

#include <fmt/core.h>

#include "amber/error.h"
#include "firmware/memory_map.h"

namespace amber::vmm {

std::string VmShape::describe() const {
  return fmt::format("{} vCPU{}, {} MiB", cpus, cpus == 1 ? "" : "s", mem_bytes >> 20);
}

struct WarmVm::Parts {
  std::unique_ptr<hv::Vm> vm;
  std::vector<std::unique_ptr<hv::Vcpu>> vcpus;
};

namespace {

// The VM a WarmVm made, as Machine's constructor asks for it again.
class HandedVm final : public hv::Vm {
 public:
  HandedVm(std::unique_ptr<hv::Vm> vm, std::vector<std::unique_ptr<hv::Vcpu>> vcpus, std::vector<hv::MemorySlot> slots)
      : vm_(std::move(vm)), vcpus_(std::move(vcpus)), slots_(std::move(slots)) {}

  void add_memory(const hv::MemorySlot& s) override {
    if (s.slot >= slots_.size() || slots_[s.slot].gpa != s.gpa || slots_[s.slot].size != s.size ||
        slots_[s.slot].host != s.host)
      throw Error(fmt::format("warm VM: memory slot {} (guest {:#x}, {} bytes) is not the one prepared", s.slot, s.gpa,
                              s.size));
  }
  std::unique_ptr<hv::Vcpu> create_vcpu(uint32_t index, uint32_t total) override {
    if (total != vcpus_.size() || index >= total || !vcpus_[index])
      throw Error(fmt::format("warm VM: vCPU {} of {} was not prepared ({} were)", index, total, vcpus_.size()));
    return std::move(vcpus_[index]);
  }
  std::unique_ptr<IrqLine> irq_line(uint32_t gsi) override { return vm_->irq_line(gsi); }
  bool add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) override {
    return vm_->add_ioeventfd(addr, len, datamatch, eventfd);
  }
  std::unique_ptr<IrqLine> irqfd_line(uint32_t gsi) override { return vm_->irqfd_line(gsi); }
  StateNode save_state() override { return vm_->save_state(); }
  void restore_state(const StateNode& n) override { vm_->restore_state(n); }

 private:
  std::unique_ptr<hv::Vm> vm_;
  std::vector<std::unique_ptr<hv::Vcpu>> vcpus_;
  std::vector<hv::MemorySlot> slots_;
};

class HandingHypervisor final : public hv::Hypervisor {
 public:
  explicit HandingHypervisor(std::unique_ptr<hv::Vm> vm) : vm_(std::move(vm)) {}
  std::unique_ptr<hv::Vm> create_vm() override {
    if (!vm_) throw Error("warm VM: already handed out");
    return std::move(vm_);
  }

 private:
  std::unique_ptr<hv::Vm> vm_;
};

}  // namespace

WarmVm::WarmVm(hv::Hypervisor& hv, VmShape shape) : shape_(shape), parts_(std::make_unique<Parts>()) {
  if (shape.cpus < 1 || shape.cpus > 32) throw Error(fmt::format("{} vCPUs: amber supports 1 to 32", shape.cpus));
  x86::validate_mem_size(shape.mem_bytes);
  parts_->vm = hv.create_vm();
  uint32_t slot = 0;
  for (auto& r : x86::ram_layout(shape.mem_bytes)) {
    // Address space only: no access, nothing committed, until the resume
    // maps the image over it. KVM checks a slot's range, not its protection.
    void* p = ::mmap(nullptr, r.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw SysError(fmt::format("reserving {} bytes for a warm VM's RAM", r.size), errno);
    reserved_.emplace_back(p, r.size);
    slots_.push_back({slot++, r.gpa, r.size, p});
    parts_->vm->add_memory(slots_.back());
  }
  for (uint32_t i = 0; i < shape.cpus; ++i) parts_->vcpus.push_back(parts_->vm->create_vcpu(i, shape.cpus));
}

WarmVm::~WarmVm() = default;

std::string WarmVm::mismatch(uint32_t cpus, const std::vector<std::pair<uint64_t, uint64_t>>& ram) const {
  if (!parts_->vm) return "the warm VM was already used";
  if (cpus != shape_.cpus)
    return fmt::format("the image has {} vCPU{}, the warm VM {}", cpus, cpus == 1 ? "" : "s", shape_.cpus);
  bool same = ram.size() == slots_.size();
  for (size_t i = 0; same && i < ram.size(); ++i) same = ram[i].first == slots_[i].gpa && ram[i].second == slots_[i].size;
  if (!same) {
    uint64_t total = 0;
    for (auto& [gpa, size] : ram) total += size;
    return fmt::format("the image has {} MiB of RAM, the warm VM {} MiB", total >> 20, shape_.mem_bytes >> 20);
  }
  return {};
}

std::vector<void*> WarmVm::ram_addresses() const {
  std::vector<void*> out;
  for (auto& s : slots_) out.push_back(s.host);
  return out;
}

hv::Hypervisor& WarmVm::take() {
  if (!parts_->vm) throw Error("warm VM: already handed out");
  // The reservations are left mapped: the resume maps RAM over them
  // (MAP_FIXED) and the guest memory owns, and later unmaps, what it mapped.
  for (auto& m : reserved_) (void)m.release();
  reserved_.clear();
  auto vm = std::make_unique<HandedVm>(std::move(parts_->vm), std::move(parts_->vcpus), slots_);
  handing_ = std::make_unique<HandingHypervisor>(std::move(vm));
  return *handing_;
}

}  // namespace amber::vmm
