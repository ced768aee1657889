#include "hv/fake_hypervisor.h"

#include <algorithm>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::hv {
namespace {

class FakeIrqLine final : public IrqLine {
 public:
  FakeIrqLine(FakeVm& vm, uint32_t gsi, bool irqfd) : vm_(vm), gsi_(gsi), irqfd_(irqfd) {}
  void set_level(bool high) noexcept override { vm_.record_irq({gsi_, IrqEvent::Kind::kLevel, high}); }
  void trigger() noexcept override {
    vm_.record_irq({gsi_, irqfd_ ? IrqEvent::Kind::kIrqfdTrigger : IrqEvent::Kind::kTrigger, false});
  }

 private:
  FakeVm& vm_;
  uint32_t gsi_;
  bool irqfd_;
};

}  // namespace

// ---- FakeVm ---------------------------------------------------------------

void FakeVm::add_memory(const MemorySlot& slot) {
  for (auto& s : slots_) {
    if (s.slot == slot.slot) throw Error(fmt::format("fake vm: memory slot {} registered twice", slot.slot));
    if (slot.gpa < s.gpa + s.size && s.gpa < slot.gpa + slot.size)
      throw Error(fmt::format("fake vm: memory slot {} overlaps slot {}", slot.slot, s.slot));
  }
  slots_.push_back(slot);
}

std::unique_ptr<Vcpu> FakeVm::create_vcpu(uint32_t index, uint32_t total) {
  if (index >= total) throw Error(fmt::format("fake vm: vCPU index {} of {}", index, total));
  auto v = std::make_unique<FakeVcpu>(index, total);
  vcpus_.push_back(v.get());
  return v;
}

std::unique_ptr<IrqLine> FakeVm::irq_line(uint32_t gsi) { return std::make_unique<FakeIrqLine>(*this, gsi, false); }

std::unique_ptr<IrqLine> FakeVm::irqfd_line(uint32_t gsi) { return std::make_unique<FakeIrqLine>(*this, gsi, true); }

bool FakeVm::add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) {
  if (!ioeventfd_supported_) return false;
  ioeventfds_.push_back({addr, len, datamatch, eventfd});
  return true;
}

void FakeVm::record_irq(const IrqEvent& e) {
  std::lock_guard lock(irq_mu_);
  irq_events_.push_back(e);
  if (e.kind == IrqEvent::Kind::kLevel) {
    auto& h = state_.high_gsis;
    auto it = std::find(h.begin(), h.end(), e.gsi);
    if (e.level && it == h.end()) h.push_back(e.gsi);
    if (!e.level && it != h.end()) h.erase(it);
  }
}

std::vector<IrqEvent> FakeVm::irq_events() const {
  std::lock_guard lock(irq_mu_);
  return irq_events_;
}

bool FakeVm::level(uint32_t gsi) const {
  std::lock_guard lock(irq_mu_);
  auto& h = state_.high_gsis;
  return std::find(h.begin(), h.end(), gsi) != h.end();
}

StateNode FakeVm::save_state() {
  std::lock_guard lock(irq_mu_);
  return amber::save_state(state_);
}

void FakeVm::restore_state(const StateNode& n) {
  if (!n.prop("clock")) throw Error("image: fake vm state has no 'clock'");
  auto s = load_state<FakeVmState>(n, "vm");
  std::lock_guard lock(irq_mu_);
  state_ = std::move(s);
  ++restores_;
}

// ---- FakeVcpu -------------------------------------------------------------

void FakeVcpu::push(Step step) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(step));
}

void FakeVcpu::push_exit(VcpuExit e) {
  push([e](FakeVcpu&) { return e; });
}

void FakeVcpu::push_io_out(uint16_t port, std::vector<uint8_t> data, uint8_t size) {
  if (size == 0 || data.size() % size) throw Error("fake vcpu: IoOut data is not a whole number of elements");
  push([port, size, data = std::move(data)](FakeVcpu& v) -> VcpuExit {
    v.buf_ = data;
    return IoOut{port, size, static_cast<uint32_t>(data.size() / size), v.buf_};
  });
}

void FakeVcpu::push_io_in(uint16_t port, uint8_t size, uint32_t count) {
  push([port, size, count](FakeVcpu& v) -> VcpuExit {
    v.buf_.assign(size_t(size) * count, 0);
    v.awaiting_ = FilledRead{false, port, {}};
    return IoIn{port, size, count, v.buf_};
  });
}

void FakeVcpu::push_mmio_write(uint64_t addr, std::vector<uint8_t> data) {
  push([addr, data = std::move(data)](FakeVcpu& v) -> VcpuExit {
    v.buf_ = data;
    return MmioWrite{addr, v.buf_};
  });
}

void FakeVcpu::push_mmio_read(uint64_t addr, uint32_t len) {
  push([addr, len](FakeVcpu& v) -> VcpuExit {
    v.buf_.assign(len, 0);
    v.awaiting_ = FilledRead{true, addr, {}};
    return MmioRead{addr, v.buf_};
  });
}

size_t FakeVcpu::pending() const {
  std::lock_guard lock(mu_);
  return script_.size();
}

void FakeVcpu::collect_filled() {
  // Like KVM, the read completes when the vCPU enters again.
  if (!awaiting_) return;
  awaiting_->data = buf_;
  filled_.push_back(std::move(*awaiting_));
  awaiting_.reset();
  if (on_filled_) on_filled_(filled_.back());
}

VcpuExit FakeVcpu::run() {
  ++run_calls_;
  collect_filled();
  if (immediate_exit_) return Interrupted{};
  Step step;
  {
    std::lock_guard lock(mu_);
    if (script_.empty()) return Halt{};
    step = std::move(script_.front());
    script_.pop_front();
  }
  ++regs_.counter;
  return step(*this);
}

void FakeVcpu::set_boot_state(const CpuBootState& s) {
  if (regs_.index != 0) throw Error(fmt::format("set_boot_state on vCPU {}: only the BSP gets a boot state", regs_.index));
  boot_ = s;
  regs_.rip = s.rip;
}

std::string FakeVcpu::describe_registers() { return fmt::format("rip={:#x}", regs_.rip); }

DebugRegs FakeVcpu::debug_registers() {
  DebugRegs r = debug_regs_;
  r.rip = regs_.rip;
  return r;
}

void FakeVcpu::set_debug_registers(const DebugRegs& r) {
  debug_regs_ = r;
  regs_.rip = r.rip;
}

StateNode FakeVcpu::save_state() {
  collect_filled();
  return amber::save_state(regs_);
}

void FakeVcpu::restore_state(const StateNode& n) {
  for (const char* p : {"index", "rip", "counter"})
    if (!n.prop(p)) throw Error(fmt::format("image: fake vcpu state has no '{}'", p));
  auto s = load_state<FakeVcpuState>(n, "vcpu");
  if (s.index != regs_.index)
    throw Error(fmt::format("image: vCPU state for index {} restored into vCPU {}", s.index, regs_.index));
  regs_ = s;
}

// ---- FakeHypervisor ---------------------------------------------------------

std::unique_ptr<Vm> FakeHypervisor::create_vm() {
  auto vm = std::make_unique<FakeVm>();
  vms_.push_back(vm.get());
  return vm;
}

}  // namespace amber::hv
