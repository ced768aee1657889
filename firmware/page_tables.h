#pragma once
// Boot GDT, IDT, identity page tables and the vCPU 0 register state for the
// two entry modes amber uses (docs/boot.md).
#include <cstdint>

#include "amber/cpu_boot_state.h"
#include "amber/guest_memory.h"

namespace amber::x86 {

// GDT selectors. boot.rst ("64-bit BOOT PROTOCOL" and "32-bit BOOT
// PROTOCOL") requires __BOOT_CS = 0x10 (execute/read) and __BOOT_DS = 0x18
// (read/write), flat 4 GiB; the PVH ABI leaves the selectors open and only
// needs a flat 32-bit code segment, which gets the otherwise unused 0x08.
inline constexpr uint16_t kCode32Selector = 0x08;  // flat 32-bit code (PVH)
inline constexpr uint16_t kBootCsSelector = 0x10;  // __BOOT_CS: 64-bit code (long mode), 32-bit code otherwise
inline constexpr uint16_t kBootDsSelector = 0x18;  // __BOOT_DS: flat data
inline constexpr int kGdtEntries = 4;

// Control register and EFER bits (Intel SDM vol. 3A §2.5, §2.2.1).
inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Et = 1ull << 4;
inline constexpr uint64_t kCr0Ne = 1ull << 5;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8;
inline constexpr uint64_t kEferLma = 1ull << 10;

// Page table entry bits (SDM vol. 3A §4.5).
inline constexpr uint64_t kPtePresent = 1ull << 0;
inline constexpr uint64_t kPteWrite = 1ull << 1;
inline constexpr uint64_t kPtePageSize = 1ull << 7;  // 2 MiB page in a PD entry

// A GDT descriptor as a 64-bit value (SDM vol. 3A §3.4.5). `flags` is the
// upper nibble (G, D/B, L, AVL), `access` the P/DPL/S/type byte.
constexpr uint64_t gdt_entry(uint8_t flags, uint8_t access, uint32_t base, uint32_t limit) {
  return (uint64_t{base & 0xff000000u} << 32) | (uint64_t{flags & 0x0fu} << 52) |
         (uint64_t{(limit >> 16) & 0x0fu} << 48) | (uint64_t{access} << 40) |
         (uint64_t{base & 0x00ffffffu} << 16) | uint64_t{limit & 0xffffu};
}

// The decoded form of a descriptor, as KVM's segment registers want it.
SegmentDesc segment_from_gdt(uint64_t entry, uint16_t selector);

// The four boot GDT entries (null, 32-bit code, 64-bit code, data).
const uint64_t* boot_gdt();

// Writes the GDT at layout::kGdtAddr and an empty IDT at layout::kIdtAddr.
void write_gdt_idt(const GuestMemory& mem);

// Identity-maps the first 4 GiB with 2 MiB pages: PML4 at kPml4Addr, one
// PDPT at kPdptAddr, four PDs from kPdAddr.
void write_identity_page_tables(const GuestMemory& mem);

// 64-bit long mode, paging on with the identity tables, CS = __BOOT_CS,
// data segments = __BOOT_DS, RIP = entry, RSP = kBootStackTop. Caller sets rsi.
CpuBootState long_mode_state(uint64_t entry);

// 32-bit protected mode as the PVH ABI asks (Xen docs/misc/pvh.pandoc):
// paging off, CS = kCode32Selector (flat 32-bit code), data segments flat,
// EFLAGS IF/TF clear. Caller sets rbx (start_info).
CpuBootState protected_mode_state(uint64_t entry);

}  // namespace amber::x86
