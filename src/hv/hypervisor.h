#pragma once
// The thin hypervisor interface the VMM orchestration and the snapshot
// engine run on. src/kvm implements it over /dev/kvm; src/hv/fake_hypervisor
// implements it in memory for unit tests.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "amber/cpu_boot_state.h"
#include "amber/irq.h"
#include "amber/state.h"
#include "hv/debug_regs.h"

namespace amber::hv {

// ---- vCPU exits (a value; handled by the pure function in exit_handler.h) --
struct IoIn {
  uint16_t port;
  uint8_t size;             // 1, 2 or 4
  uint32_t count;           // > 1 for rep ins
  std::span<uint8_t> data;  // size*count bytes the VMM fills in
};
struct IoOut {
  uint16_t port;
  uint8_t size;
  uint32_t count;           // > 1 for rep outs
  std::span<const uint8_t> data;
};
struct MmioRead {
  uint64_t addr;
  std::span<uint8_t> data;  // 1..8 bytes the VMM fills in
};
struct MmioWrite {
  uint64_t addr;
  std::span<const uint8_t> data;
};
struct Halt {};
struct Shutdown {};        // triple fault (KVM_EXIT_SHUTDOWN)
struct SystemReset {};     // KVM_EXIT_SYSTEM_EVENT reset
struct Interrupted {};     // KVM_RUN returned EINTR or immediate_exit was set
struct InternalError {
  std::string what;
};
// KVM_EXIT_DEBUG: a guest-debug event (single step, a breakpoint the
// debugger set). Only while GuestDebug::enable is on.
struct DebugTrap {
  uint32_t exception = 0;  // 1: #DB (step, hardware breakpoint), 3: #BP (int3)
  uint64_t pc = 0;         // linear address (CS base + RIP)
  uint64_t dr6 = 0, dr7 = 0;
};
using VcpuExit =
    std::variant<IoIn, IoOut, MmioRead, MmioWrite, Halt, Shutdown, SystemReset, Interrupted, InternalError, DebugTrap>;

class Vcpu {
 public:
  virtual ~Vcpu() = default;
  virtual uint32_t index() const = 0;
  // Enters the guest until the next exit. Must be called on the vCPU's own thread.
  virtual VcpuExit run() = 0;
  // Sets kvm_run->immediate_exit: a KVM_RUN started afterwards returns at
  // once with EINTR. Async-signal-safe (used from the kick signal handler).
  virtual void set_immediate_exit(bool on) noexcept = 0;
  // Initial register state for a fresh boot (CPUID, MSRs, FPU included).
  virtual void set_boot_state(const CpuBootState& s) = 0;
  // Full architectural state in the documented ioctl order (docs/image-format.md).
  virtual StateNode save_state() = 0;
  virtual void restore_state(const StateNode& n) = 0;
  // One line with the registers that tell where a guest died ("rip=... cr2=
  // ..."), for the report of a triple fault. On the vCPU's own thread.
  virtual std::string describe_registers() = 0;
  // For the gdb stub (src/gdb), on the vCPU's own thread while it is out
  // of run(): the register file, and the guest-debug controls.
  virtual DebugRegs debug_registers() = 0;
  virtual void set_debug_registers(const DebugRegs& r) = 0;
  virtual void set_guest_debug(const GuestDebug& d) = 0;
};

// How guest RAM regions are registered (KVM memory slots).
struct MemorySlot {
  uint32_t slot;
  uint64_t gpa;
  uint64_t size;
  void* host;
};

class Vm {
 public:
  virtual ~Vm() = default;
  virtual void add_memory(const MemorySlot& slot) = 0;
  // Creates vCPU `index` (APIC ID = index) for a VM of `total` vCPUs; CPUID
  // topology is set up for that total.
  virtual std::unique_ptr<Vcpu> create_vcpu(uint32_t index, uint32_t total) = 0;
  // An interrupt line to GSI `gsi` of the in-kernel IOAPIC/PIC.
  virtual std::unique_ptr<IrqLine> irq_line(uint32_t gsi) = 0;
  // Signals `eventfd` when the guest writes `datamatch` (any value when
  // nullopt) to MMIO `addr` (KVM ioeventfd); returns false when unsupported.
  virtual bool add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch, int eventfd) = 0;
  // An edge-triggered line to `gsi` driven by writing to an eventfd (KVM
  // irqfd); falls back to KVM_IRQ_LINE pulses when irqfd is unavailable.
  virtual std::unique_ptr<IrqLine> irqfd_line(uint32_t gsi) = 0;
  // PIC, IOAPIC, PIT2, kvmclock.
  virtual StateNode save_state() = 0;
  virtual void restore_state(const StateNode& n) = 0;
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual std::unique_ptr<Vm> create_vm() = 0;
};

}  // namespace amber::hv
