#pragma once
// An in-memory hv::Hypervisor for unit tests of the VMM orchestration and
// the snapshot engine: records memory slots, interrupt lines and
// ioeventfds; vCPUs play back scripted exits and keep a few fake registers
// that save_state()/restore_state() round-trip.
//
// Lifetimes: a FakeVm must outlive its vCPUs and lines (they report to it);
// the raw pointers FakeHypervisor::vms() and FakeVm::vcpus() hand out are
// valid while the caller keeps the objects alive.
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "hv/hypervisor.h"

namespace amber::hv {

class FakeVcpu;

// The registers a FakeVcpu saves: `rip` is set by set_boot_state, `counter`
// counts run() calls that returned a scripted exit.
struct FakeVcpuState {
  uint32_t index = 0;
  uint64_t rip = 0;
  uint64_t counter = 0;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("index", s.index)("rip", s.rip)("counter", s.counter);
  }
  bool operator==(const FakeVcpuState&) const = default;
};

struct FakeVmState {
  uint64_t clock = 0;
  std::vector<uint32_t> high_gsis;  // lines whose level is high
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("clock", s.clock)("high_gsis", s.high_gsis, 1024);
  }
  bool operator==(const FakeVmState&) const = default;
};

struct IrqEvent {
  enum class Kind { kLevel, kTrigger, kIrqfdTrigger };
  uint32_t gsi;
  Kind kind;
  bool level;  // kLevel only
  bool operator==(const IrqEvent&) const = default;
};

struct IoeventfdReg {
  uint64_t addr;
  uint32_t len;
  std::optional<uint64_t> datamatch;
  int eventfd;
};

// What the VMM wrote into an IoIn/MmioRead exit, seen when the vCPU ran again.
struct FilledRead {
  bool is_mmio;
  uint64_t addr;  // port or guest physical address
  std::vector<uint8_t> data;
};

class FakeVm final : public Vm {
 public:
  void add_memory(const MemorySlot& slot) override;
  std::unique_ptr<Vcpu> create_vcpu(uint32_t index, uint32_t total) override;
  std::unique_ptr<IrqLine> irq_line(uint32_t gsi) override;
  bool add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) override;
  std::unique_ptr<IrqLine> irqfd_line(uint32_t gsi) override;
  StateNode save_state() override;
  void restore_state(const StateNode& n) override;

  // ---- test access ----
  const std::vector<MemorySlot>& slots() const { return slots_; }
  const std::vector<FakeVcpu*>& vcpus() const { return vcpus_; }
  std::vector<IrqEvent> irq_events() const;
  bool level(uint32_t gsi) const;
  const std::vector<IoeventfdReg>& ioeventfds() const { return ioeventfds_; }
  void set_ioeventfd_supported(bool on) { ioeventfd_supported_ = on; }
  FakeVmState& state() { return state_; }
  int restore_count() const { return restores_; }

  void record_irq(const IrqEvent& e);  // called by the fake lines

 private:
  std::vector<MemorySlot> slots_;
  std::vector<FakeVcpu*> vcpus_;
  std::vector<IoeventfdReg> ioeventfds_;
  bool ioeventfd_supported_ = true;
  mutable std::mutex irq_mu_;
  std::vector<IrqEvent> irq_events_;
  FakeVmState state_;
  int restores_ = 0;
};

class FakeVcpu final : public Vcpu {
 public:
  // A scripted step: returns the exit run() reports. Spans in it must point
  // to memory that lives until the next run(); push_io_out etc. keep theirs
  // in the vCPU.
  using Step = std::function<VcpuExit(FakeVcpu&)>;

  FakeVcpu(uint32_t index, uint32_t total) : total_(total) { regs_.index = index; }

  uint32_t index() const override { return regs_.index; }
  // Interrupted while immediate_exit is set (the queue is kept); otherwise
  // the next scripted exit, or Halt when the script is empty.
  VcpuExit run() override;
  void set_immediate_exit(bool on) noexcept override { immediate_exit_ = on; }
  void set_boot_state(const CpuBootState& s) override;
  StateNode save_state() override;
  void restore_state(const StateNode& n) override;
  std::string describe_registers() override;
  // A stored register file whose rip is regs().rip; the guest-debug
  // settings are only recorded (guest_debug()).
  DebugRegs debug_registers() override;
  void set_debug_registers(const DebugRegs& r) override;
  void set_guest_debug(const GuestDebug& d) override { guest_debug_ = d; }

  // ---- scripting ----
  void push(Step step);
  void push_exit(VcpuExit e);  // for exits without data spans
  void push_io_out(uint16_t port, std::vector<uint8_t> data, uint8_t size = 1);
  void push_io_in(uint16_t port, uint8_t size = 1, uint32_t count = 1);
  void push_mmio_write(uint64_t addr, std::vector<uint8_t> data);
  void push_mmio_read(uint64_t addr, uint32_t len);
  size_t pending() const;

  // ---- observation ----
  const std::vector<FilledRead>& filled_reads() const { return filled_; }
  // Called with each FilledRead as it is collected.
  void on_filled(std::function<void(const FilledRead&)> f) { on_filled_ = std::move(f); }
  const std::optional<CpuBootState>& boot_state() const { return boot_; }
  FakeVcpuState& regs() { return regs_; }
  uint32_t total() const { return total_; }
  uint64_t run_calls() const { return run_calls_; }
  const GuestDebug& guest_debug() const { return guest_debug_; }

 private:
  void collect_filled();

  uint32_t total_;
  std::atomic<bool> immediate_exit_{false};
  mutable std::mutex mu_;
  std::deque<Step> script_;
  std::vector<uint8_t> buf_;  // data of the exit run() returned last
  std::optional<FilledRead> awaiting_;  // an IoIn/MmioRead the VMM is filling
  std::vector<FilledRead> filled_;
  std::function<void(const FilledRead&)> on_filled_;
  std::optional<CpuBootState> boot_;
  FakeVcpuState regs_;
  uint64_t run_calls_ = 0;
  DebugRegs debug_regs_;
  GuestDebug guest_debug_;
};

class FakeHypervisor final : public Hypervisor {
 public:
  std::unique_ptr<Vm> create_vm() override;
  const std::vector<FakeVm*>& vms() const { return vms_; }

 private:
  std::vector<FakeVm*> vms_;
};

}  // namespace amber::hv
