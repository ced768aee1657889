#pragma once
// Hand-assembled bare-metal guests and the minimal boot environment they
// need, for kvm_tests only (firmware/ builds the real one).
#include <cstdint>
#include <span>

#include "amber/cpu_boot_state.h"

namespace amber::kvm::test {

inline constexpr uint64_t kGuestMemSize = 2 << 20;
inline constexpr uint64_t kCodeAddr = 0x100000;  // layout::kBareLoadAddr
inline constexpr uint64_t kCounterAddr = 0x3000;

// Writes a GDT (null, code64, data) at layout::kGdtAddr and identity page
// tables for the first 4 GiB (2 MiB pages) at layout::kPml4Addr, and returns
// a long-mode boot state with SSE enabled, entering at `rip`.
CpuBootState setup_long_mode(std::span<uint8_t> mem, uint64_t rip);
// Real mode, CS = DS = 0, entering at `rip`.
CpuBootState real_mode_state(uint64_t rip);
// Copies `code` to guest physical `gpa`.
void load(std::span<uint8_t> mem, uint64_t gpa, std::span<const uint8_t> code);

// Long mode: forever { ++[kCounterAddr]; out 0x10, eax=counter;
//   ++rbx; out 0x11, ebx; ++xmm0 (through the scratch qword at 0x3010);
//   out 0x12, xmm0 } (counters in RAM, a GPR and an SSE register, so a
// restore must bring back all three). Only instructions KVM's emulator
// implements, so it also runs where guest ring 0 is emulated (PVM).
extern const uint8_t kCounterLoop[66];
// Long mode: eax = [0xd0000000]; [0xd0000008] = eax; dword [0xd0001000] = 7,
// then 8; out 0x10, al; spin.
extern const uint8_t kMmioGuest[39];
// Real mode: out 0x10, 0x42; hlt.
extern const uint8_t kOutHlt[5];
// Real mode: rep outsb of 4 bytes at DS:0x2000 to port 0x10; hlt.
extern const uint8_t kRepOutsb[13];
// Real mode: rep insb of 4 bytes from port 0x10 to ES:0x2000; out 0x11, al; hlt.
extern const uint8_t kRepInsb[15];
// Real mode: rep insb of 6 bytes from port 0x10 to ES:0x2ffe, across a page
// boundary (so KVM splits it into exits of 2 and 4); out 0x11, al; hlt.
extern const uint8_t kRepInsbAcrossPage[15];
inline constexpr uint64_t kRepInsbAcrossPageRep = 0xa;  // offset of the rep insb

// Guests that take interrupts: the in-kernel LAPIC (kLapicAddr) and IOAPIC
// (kIoapicAddr) through the identity map of setup_long_mode, and an IDT
// the test writes with set_idt_gate and passes in the boot state.
inline constexpr uint64_t kIdtAddr = 0x5000;
inline constexpr uint32_t kGuestIrqGsi = 16;  // the IOAPIC pin the guests route (IOAPIC only)
// Writes a 64-bit interrupt gate (selector 0x8, DPL 0, IST 0) for `vector`
// to the IDT at kIdtAddr.
void set_idt_gate(std::span<uint8_t> mem, uint8_t vector, uint64_t handler);
// Long mode: software-enables the LAPIC, routes GSI 16 to vector 0x30 (edge,
// fixed, APIC ID 0), out 0x10, 1; sti; hlt; out 0x12, 3; spin.
// Handler (vector 0x30, at kHaltGuestHandler): out 0x11, 2; EOI; iretq.
extern const uint8_t kHaltGuest[74];
inline constexpr uint64_t kHaltGuestHandler = 0x3a;
// Long mode: cli; LAPIC and GSI 16 -> vector 0x31 as kHaltGuest; out 0x10, 1;
// in al, 0x11; sti; nop; out 0x12, al; spin.
// Handler (vector 0x31, at kPendingIrqGuestHandler): out 0x13, 0x31
// (rax preserved); EOI; iretq.
extern const uint8_t kPendingIrqGuest[77];
inline constexpr uint64_t kPendingIrqGuestHandler = 0x3b;
// Long mode: software-enables the LAPIC; its timer one-shot, divide by 1,
// vector 0x32, initial count = the dword at kCounterAddr (KVM's LAPIC runs
// at 1 GHz: 1 ns a count); out 0x10, 1; sti; forever hlt.
// Handler (vector 0x32, at kTimerGuestHandler): out 0x11, 2; EOI; iretq.
extern const uint8_t kTimerGuest[72];
inline constexpr uint64_t kTimerGuestHandler = 0x38;
// Long mode BSP of a 2-vCPU VM: software-enables its LAPIC; out 0x10, 1;
// INIT to APIC ID 1; out 0x11, 2; SIPI, SIPI with vector 4 (the AP starts in
// real mode at 0x4000 = kApTrampolineAddr); out 0x12, 3; spin.
extern const uint8_t kSipiBsp[79];
inline constexpr uint64_t kApTrampolineAddr = 0x4000;
// Real mode, for an AP started by SIPI: out 0x14, cs (16 bits); hlt.
// (Test guests use ports 0x10-0x14: KVM's in-kernel PIC takes 0x20/0x21.)
extern const uint8_t kApOutCs[5];

}  // namespace amber::kvm::test
