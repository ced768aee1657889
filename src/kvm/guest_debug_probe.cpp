#include "kvm/guest_debug_probe.h"

#include <cstring>
#include <optional>

#include <fmt/core.h>

#include "amber/cpu_boot_state.h"
#include "amber/mapping.h"
#include "kvm/kvm_hypervisor.h"

namespace amber::kvm {
namespace {

// 16-bit real mode, IVT at 0. At kCode: four NOPs, then "mov al, 0x42;
// out 0x80, al; jmp $". At kInt3: "int3", then the same. The #BP vector
// (IVT entry 3) points at kHandler: "mov al, 0x33; out 0x80, al; jmp $",
// so an int3 that reaches the guest shows up as a port write of 0x33.
constexpr uint64_t kCode = 0x1000, kInt3 = 0x1010, kHandler = 0x1100;
constexpr uint8_t kNops[] = {0x90, 0x90, 0x90, 0x90, 0xb0, 0x42, 0xe6, 0x80, 0xeb, 0xfe};
constexpr uint8_t kInt3Code[] = {0xcc, 0xb0, 0x42, 0xe6, 0x80, 0xeb, 0xfe};
constexpr uint8_t kHandlerCode[] = {0xb0, 0x33, 0xe6, 0x80, 0xeb, 0xfe};

CpuBootState real_mode_at(uint64_t rip) {
  CpuBootState s;
  s.mode = CpuBootState::Mode::kReal;
  s.rip = rip;
  s.cr0 = 0x60000010;
  s.cs = {0, 0xffff, 0, 0xb, 1, 0, 0, 1, 0, 0};
  s.ds = {0, 0xffff, 0, 0x3, 1, 0, 0, 1, 0, 0};
  s.idt_limit = 0x3ff;
  return s;
}

std::string describe(const hv::VcpuExit& e) {
  if (auto* t = std::get_if<hv::DebugTrap>(&e))
    return fmt::format("debug exit (vector {}, pc {:#x}, dr6 {:#x})", t->exception, t->pc, t->dr6);
  if (auto* o = std::get_if<hv::IoOut>(&e))
    return fmt::format("port write {:#x} to {:#x}", o->data.empty() ? 0 : o->data[0], o->port);
  return fmt::format("exit kind {}", e.index());
}

// What one probe run ended with: the trap, if it was one, and a description
// (made before the VM goes away: an I/O exit's data lives in its kvm_run).
struct Outcome {
  std::optional<hv::DebugTrap> trap;
  std::string what;
};

// One fresh VM per check, so no state leaks between them.
Outcome run_once(const std::string& device, uint64_t rip, const hv::GuestDebug& dbg) {
  KvmHypervisor hv(device);
  auto vm = hv.create_vm();
  Mapping mem = Mapping::anonymous(64 << 10);
  std::memcpy(mem.data() + kCode, kNops, sizeof kNops);
  std::memcpy(mem.data() + kInt3, kInt3Code, sizeof kInt3Code);
  std::memcpy(mem.data() + kHandler, kHandlerCode, sizeof kHandlerCode);
  uint16_t ivt3[2] = {uint16_t(kHandler), 0};  // offset, segment
  std::memcpy(mem.data() + 3 * 4, ivt3, sizeof ivt3);
  vm->add_memory({0, 0, mem.size(), mem.data()});
  auto vcpu = vm->create_vcpu(0, 1);
  vcpu->set_boot_state(real_mode_at(rip));
  vcpu->set_guest_debug(dbg);
  auto e = vcpu->run();
  Outcome o{std::nullopt, describe(e)};
  if (auto* t = std::get_if<hv::DebugTrap>(&e)) o.trap = *t;
  return o;
}

}  // namespace

GuestDebugSupport probe_guest_debug(const std::string& device) {
  GuestDebugSupport s;
  hv::GuestDebug step;
  step.enable = step.single_step = true;
  auto o = run_once(device, kCode, step);
  auto& t = o.trap;
  s.single_step = t && t->exception == 1 && t->pc == kCode + 1;
  s.detail = fmt::format("single step: {}", o.what);

  hv::GuestDebug sw;
  sw.enable = sw.sw_breakpoints = true;
  o = run_once(device, kInt3, sw);
  s.sw_breakpoints = t && t->exception == 3 && t->pc == kInt3;
  s.detail += fmt::format("; int3: {}", o.what);

  hv::GuestDebug hw;
  hw.enable = hw.hw_breakpoints = true;
  hw.dr[0] = kCode + 2;
  hw.dr7 = 1;  // L0, execution, length 1
  o = run_once(device, kCode, hw);
  s.hw_breakpoints = t && t->exception == 1 && t->pc == kCode + 2 && (t->dr6 & 1);
  s.detail += fmt::format("; DR0 breakpoint: {}", o.what);
  return s;
}

}  // namespace amber::kvm
