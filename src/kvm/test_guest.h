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

}  // namespace amber::kvm::test
