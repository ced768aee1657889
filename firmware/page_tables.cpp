#include "firmware/page_tables.h"

#include <array>

#include "amber/layout.h"

namespace amber::x86 {
namespace {

// Access bytes: P=1, DPL=0, S=1 and type 0xb (code, execute/read, accessed)
// or 0x3 (data, read/write, accessed). Accessed is preset so the CPU never
// writes back to the GDT. Flags: G=1 (4 KiB granularity) plus D/B=1 for
// 32-bit segments or L=1 for 64-bit code (SDM vol. 3A §3.4.5).
constexpr uint8_t kAccessCode = 0x9b;
constexpr uint8_t kAccessData = 0x93;
constexpr uint8_t kFlags32 = 0xc;    // G, D/B
constexpr uint8_t kFlags64 = 0xa;    // G, L
constexpr uint32_t kFlatLimit = 0xfffff;  // x 4 KiB = 4 GiB

constexpr std::array<uint64_t, kGdtEntries> kBootGdt = {
    0,                                                     // 0x00 null
    gdt_entry(kFlags32, kAccessCode, 0, kFlatLimit),       // 0x08 flat 32-bit code
    gdt_entry(kFlags64, kAccessCode, 0, kFlatLimit),       // 0x10 __BOOT_CS, 64-bit code
    gdt_entry(kFlags32, kAccessData, 0, kFlatLimit),       // 0x18 __BOOT_DS, flat data
};
static_assert(layout::kGdtAddr + sizeof(kBootGdt) <= layout::kIdtAddr, "GDT overlaps the IDT");

constexpr uint64_t kPdCount = 4;            // 4 x 512 x 2 MiB = 4 GiB
constexpr uint64_t kTwoMiB = 2ull << 20;
static_assert(layout::kPdAddr + kPdCount * 0x1000 <= 0x10000, "page tables run past their slot");

}  // namespace

const uint64_t* boot_gdt() { return kBootGdt.data(); }

SegmentDesc segment_from_gdt(uint64_t e, uint16_t selector) {
  SegmentDesc s;
  s.selector = selector;
  s.base = ((e >> 16) & 0xffffff) | (((e >> 56) & 0xff) << 24);
  uint32_t raw_limit = static_cast<uint32_t>((e & 0xffff) | (((e >> 48) & 0xf) << 16));
  s.g = (e >> 55) & 1;
  // KVM's segment limit is in bytes: scale page-granular limits.
  s.limit = s.g ? (raw_limit << 12) | 0xfff : raw_limit;
  s.type = (e >> 40) & 0xf;
  s.s = (e >> 44) & 1;
  s.dpl = (e >> 45) & 3;
  s.present = (e >> 47) & 1;
  s.l = (e >> 53) & 1;
  s.db = (e >> 54) & 1;
  return s;
}

void write_gdt_idt(const GuestMemory& mem) {
  for (int i = 0; i < kGdtEntries; ++i)
    if (!mem.write_obj(layout::kGdtAddr + 8 * i, kBootGdt[i])) throw Error("boot GDT is outside guest RAM");
  // An empty IDT (limit 0): any exception before the kernel loads its own
  // IDT becomes a triple fault, which the VMM reports, instead of jumping
  // through garbage.
  if (!mem.write_obj<uint64_t>(layout::kIdtAddr, 0)) throw Error("boot IDT is outside guest RAM");
}

void write_identity_page_tables(const GuestMemory& mem) {
  auto put = [&](uint64_t gpa, uint64_t v) {
    if (!mem.write_obj(gpa, v)) throw Error(fmt::format("boot page table at {:#x} is outside guest RAM", gpa));
  };
  for (uint64_t i = 0; i < 512; ++i) {
    put(layout::kPml4Addr + 8 * i, i == 0 ? layout::kPdptAddr | kPtePresent | kPteWrite : 0);
    put(layout::kPdptAddr + 8 * i, i < kPdCount ? (layout::kPdAddr + 0x1000 * i) | kPtePresent | kPteWrite : 0);
  }
  for (uint64_t i = 0; i < kPdCount * 512; ++i)
    put(layout::kPdAddr + 8 * i, (i * kTwoMiB) | kPtePresent | kPteWrite | kPtePageSize);
}

namespace {
CpuBootState common_state(uint64_t entry) {
  CpuBootState s;
  s.rip = entry;
  s.rflags = 0x2;  // bit 1 is reserved-as-1; IF clear (boot.rst: interrupts disabled)
  s.gdt_base = layout::kGdtAddr;
  s.gdt_limit = static_cast<uint16_t>(8 * kGdtEntries - 1);
  s.idt_base = layout::kIdtAddr;
  s.idt_limit = 0;
  s.ds = segment_from_gdt(kBootGdt[kBootDsSelector / 8], kBootDsSelector);
  return s;
}
}  // namespace

CpuBootState long_mode_state(uint64_t entry) {
  CpuBootState s = common_state(entry);
  s.mode = CpuBootState::Mode::kLong64;
  s.cs = segment_from_gdt(kBootGdt[kBootCsSelector / 8], kBootCsSelector);
  s.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
  s.cr3 = layout::kPml4Addr;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  s.rsp = s.rbp = layout::kBootStackTop;
  return s;
}

CpuBootState protected_mode_state(uint64_t entry) {
  CpuBootState s = common_state(entry);
  s.mode = CpuBootState::Mode::kProtected32;
  s.cs = segment_from_gdt(kBootGdt[kCode32Selector / 8], kCode32Selector);
  // pvh.pandoc: "cr0: bit 0 (PE) must be set. All the other writeable bits
  // are cleared." ET is read-only 1 on every CPU KVM runs on.
  s.cr0 = kCr0Pe | kCr0Et;
  s.rsp = s.rbp = layout::kBootStackTop;
  return s;
}

}  // namespace amber::x86
