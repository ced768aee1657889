#include "kvm/test_guest.h"

#include <cstring>

#include "amber/layout.h"

namespace amber::kvm::test {

// Assembled with GNU as; the source is in each comment.
// The SSE counter lives in xmm0 and only passes through the scratch qword
// at 0x3010 (stored from xmm0 before each increment), so a restore that lost
// xmm0 shows as a restart at 1. It uses MOVDQU rather than MOVQ/PADDQ because
// KVM's instruction emulator implements the SSE moves (0F 6F/7F) but not
// 66 0F 6E/7E or PADDQ, and PVM emulates ring-0 guest code
// (docs/testing.md, "PVM").
const uint8_t kCounterLoop[66] = {
    0x48, 0x8b, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,        // loop: mov 0x3000, %rax
    0x48, 0xff, 0xc0,                                      // inc %rax
    0x48, 0x89, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,        // mov %rax, 0x3000
    0xe7, 0x10,                                            // out %eax, $0x10
    0x48, 0xff, 0xc3,                                      // inc %rbx
    0x89, 0xd8,                                            // mov %ebx, %eax
    0xe7, 0x11,                                            // out %eax, $0x11
    0xf3, 0x0f, 0x7f, 0x04, 0x25, 0x10, 0x30, 0x00, 0x00,  // movdqu %xmm0, 0x3010
    0x48, 0xff, 0x04, 0x25, 0x10, 0x30, 0x00, 0x00,        // incq 0x3010
    0xf3, 0x0f, 0x6f, 0x04, 0x25, 0x10, 0x30, 0x00, 0x00,  // movdqu 0x3010, %xmm0
    0x48, 0x8b, 0x04, 0x25, 0x10, 0x30, 0x00, 0x00,        // mov 0x3010, %rax
    0xe7, 0x12,                                            // out %eax, $0x12
    0xeb, 0xbe,                                            // jmp loop
};

const uint8_t kMmioGuest[39] = {
    0x48, 0xbb, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x00, 0x00, 0x00,  // movabs $0xd0000000, %rbx
    0x8b, 0x03,                                                  // mov (%rbx), %eax
    0x89, 0x43, 0x08,                                            // mov %eax, 8(%rbx)
    0xc7, 0x83, 0x00, 0x10, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,  // movl $7, 0x1000(%rbx)
    0xc7, 0x83, 0x00, 0x10, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,  // movl $8, 0x1000(%rbx)
    0xe6, 0x10,                                                  // out %al, $0x10
    0xeb, 0xfe,                                                  // 1: jmp 1b
};

const uint8_t kOutHlt[5] = {
    0xb0, 0x42,  // mov $0x42, %al
    0xe6, 0x10,  // out %al, $0x10
    0xf4,        // hlt
};

const uint8_t kRepOutsb[13] = {
    0xbe, 0x00, 0x20,  // mov $0x2000, %si
    0xb9, 0x04, 0x00,  // mov $4, %cx
    0xba, 0x10, 0x00,  // mov $0x10, %dx
    0xfc,              // cld
    0xf3, 0x6e,        // rep outsb
    0xf4,              // hlt
};

const uint8_t kRepInsb[15] = {
    0xbf, 0x00, 0x20,  // mov $0x2000, %di
    0xb9, 0x04, 0x00,  // mov $4, %cx
    0xba, 0x10, 0x00,  // mov $0x10, %dx
    0xfc,              // cld
    0xf3, 0x6c,        // rep insb
    0xe6, 0x11,        // out %al, $0x11
    0xf4,              // hlt
};

const uint8_t kRepInsbAcrossPage[15] = {
    0xbf, 0xfe, 0x2f,  // mov $0x2ffe, %di
    0xb9, 0x06, 0x00,  // mov $6, %cx
    0xba, 0x10, 0x00,  // mov $0x10, %dx
    0xfc,              // cld
    0xf3, 0x6c,        // rep insb
    0xe6, 0x11,        // out %al, $0x11
    0xf4,              // hlt
};

// The LAPIC's SVR (0xf0) = 0x1ff: software-enabled, spurious vector 0xff.
// IOAPIC redirection entry 16 = registers 0x30 (low) and 0x31 (high), through
// IOREGSEL (+0) and IOWIN (+0x10). GSI 16, not one below 16: KVM routes GSIs
// 0-15 to the 8259 PIC as well, and the BSP's LVT0 is an unmasked ExtINT
// after reset (KVM_X86_QUIRK_LINT0_REENABLED), so the PIC would deliver its
// own vector (none in our IDT: a triple fault).
const uint8_t kHaltGuest[74] = {
    0xbb, 0x00, 0x00, 0xe0, 0xfe,                                // mov $0xfee00000, %ebx
    0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,  // movl $0x1ff, 0xf0(%rbx)
    0xbe, 0x00, 0x00, 0xc0, 0xfe,                                // mov $0xfec00000, %esi
    0xc7, 0x06, 0x30, 0x00, 0x00, 0x00,                          // movl $0x30, (%rsi)
    0xc7, 0x46, 0x10, 0x30, 0x00, 0x00, 0x00,                    // movl $0x30, 0x10(%rsi)
    0xc7, 0x06, 0x31, 0x00, 0x00, 0x00,                          // movl $0x31, (%rsi)
    0xc7, 0x46, 0x10, 0x00, 0x00, 0x00, 0x00,                    // movl $0, 0x10(%rsi)
    0xb0, 0x01,                                                  // mov $1, %al
    0xe6, 0x10,                                                  // out %al, $0x10
    0xfb,                                                        // sti
    0xf4,                                                        // hlt
    0xb0, 0x03,                                                  // mov $3, %al
    0xe6, 0x12,                                                  // out %al, $0x12
    0xeb, 0xfe,                                                  // 1: jmp 1b
    0xb0, 0x02,                                                  // handler (0x3a): mov $2, %al
    0xe6, 0x11,                                                  // out %al, $0x11
    0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // movl $0, 0xb0(%rbx) (EOI)
    0x48, 0xcf,                                                  // iretq
};

const uint8_t kPendingIrqGuest[77] = {
    0xfa,                                                        // cli
    0xbb, 0x00, 0x00, 0xe0, 0xfe,                                // mov $0xfee00000, %ebx
    0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,  // movl $0x1ff, 0xf0(%rbx)
    0xbe, 0x00, 0x00, 0xc0, 0xfe,                                // mov $0xfec00000, %esi
    0xc7, 0x06, 0x30, 0x00, 0x00, 0x00,                          // movl $0x30, (%rsi)
    0xc7, 0x46, 0x10, 0x31, 0x00, 0x00, 0x00,                    // movl $0x31, 0x10(%rsi)
    0xc7, 0x06, 0x31, 0x00, 0x00, 0x00,                          // movl $0x31, (%rsi)
    0xc7, 0x46, 0x10, 0x00, 0x00, 0x00, 0x00,                    // movl $0, 0x10(%rsi)
    0xb0, 0x01,                                                  // mov $1, %al
    0xe6, 0x10,                                                  // out %al, $0x10
    0xe4, 0x11,                                                  // in $0x11, %al
    0xfb,                                                        // sti
    0x90,                                                        // nop (the STI shadow)
    0xe6, 0x12,                                                  // out %al, $0x12
    0xeb, 0xfe,                                                  // 1: jmp 1b
    0x50,                                                        // handler (0x3b): push %rax
    0xb0, 0x31,                                                  // mov $0x31, %al
    0xe6, 0x13,                                                  // out %al, $0x13
    0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // movl $0, 0xb0(%rbx) (EOI)
    0x58,                                                        // pop %rax
    0x48, 0xcf,                                                  // iretq
};

// TDCR (0x3e0) = 0xb: divide by 1; LVT timer (0x320) = 0x32: one-shot,
// unmasked, vector 0x32; TMICT (0x380) starts it.
const uint8_t kTimerGuest[72] = {
    0xbb, 0x00, 0x00, 0xe0, 0xfe,                                // mov $0xfee00000, %ebx
    0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,  // movl $0x1ff, 0xf0(%rbx)
    0xc7, 0x83, 0xe0, 0x03, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,  // movl $0xb, 0x3e0(%rbx)
    0xc7, 0x83, 0x20, 0x03, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00,  // movl $0x32, 0x320(%rbx)
    0x8b, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,                    // mov 0x3000, %eax
    0x89, 0x83, 0x80, 0x03, 0x00, 0x00,                          // mov %eax, 0x380(%rbx)
    0xb0, 0x01,                                                  // mov $1, %al
    0xe6, 0x10,                                                  // out %al, $0x10
    0xfb,                                                        // sti
    0xf4,                                                        // 1: hlt
    0xeb, 0xfd,                                                  // jmp 1b
    0xb0, 0x02,                                                  // handler (0x38): mov $2, %al
    0xe6, 0x11,                                                  // out %al, $0x11
    0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // movl $0, 0xb0(%rbx) (EOI)
    0x48, 0xcf,                                                  // iretq
};

// ICR high (0x310) = destination APIC ID 1 << 24; ICR low (0x300) = 0x4500
// (INIT, level assert) or 0x4604 (start-up, vector 4).
const uint8_t kSipiBsp[79] = {
    0xbb, 0x00, 0x00, 0xe0, 0xfe,                                // mov $0xfee00000, %ebx
    0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,  // movl $0x1ff, 0xf0(%rbx)
    0xb0, 0x01,                                                  // mov $1, %al
    0xe6, 0x10,                                                  // out %al, $0x10
    0xc7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // movl $0x1000000, 0x310(%rbx)
    0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00,  // movl $0x4500, 0x300(%rbx)
    0xb0, 0x02,                                                  // mov $2, %al
    0xe6, 0x11,                                                  // out %al, $0x11
    0xc7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // movl $0x1000000, 0x310(%rbx)
    0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x04, 0x46, 0x00, 0x00,  // movl $0x4604, 0x300(%rbx)
    0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x04, 0x46, 0x00, 0x00,  // movl $0x4604, 0x300(%rbx)
    0xb0, 0x03,                                                  // mov $3, %al
    0xe6, 0x12,                                                  // out %al, $0x12
    0xeb, 0xfe,                                                  // 1: jmp 1b
};

const uint8_t kApOutCs[5] = {
    0x8c, 0xc8,  // mov %cs, %ax
    0xe7, 0x14,  // out %ax, $0x14
    0xf4,        // hlt
};

void set_idt_gate(std::span<uint8_t> mem, uint8_t vector, uint64_t handler) {
  // SDM vol. 3A 6.14.1: offset 15:0, selector, IST, type 0xe (interrupt
  // gate) | P, offset 31:16, offset 63:32, reserved.
  uint8_t g[16] = {};
  g[0] = uint8_t(handler);
  g[1] = uint8_t(handler >> 8);
  g[2] = 0x08;  // the code64 selector of setup_long_mode's GDT
  g[5] = 0x8e;
  g[6] = uint8_t(handler >> 16);
  g[7] = uint8_t(handler >> 24);
  for (int i = 0; i < 4; ++i) g[8 + i] = uint8_t(handler >> (32 + 8 * i));
  std::memcpy(mem.data() + kIdtAddr + 16 * vector, g, sizeof g);
}

void load(std::span<uint8_t> mem, uint64_t gpa, std::span<const uint8_t> code) {
  std::memcpy(mem.data() + gpa, code.data(), code.size());
}

namespace {
void put64(std::span<uint8_t> mem, uint64_t gpa, uint64_t v) { std::memcpy(mem.data() + gpa, &v, 8); }
}  // namespace

CpuBootState setup_long_mode(std::span<uint8_t> mem, uint64_t rip) {
  // GDT: null, 64-bit code (0x8), flat data (0x10); Firecracker's encodings.
  put64(mem, layout::kGdtAddr + 0, 0);
  put64(mem, layout::kGdtAddr + 8, 0x00af9b000000ffffull);
  put64(mem, layout::kGdtAddr + 16, 0x00cf93000000ffffull);
  // PML4[0] -> PDPT; PDPT[i] -> PD i; PD entries: 2 MiB pages, RW|P|PS.
  put64(mem, layout::kPml4Addr, layout::kPdptAddr | 0x3);
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t pd = layout::kPdAddr + i * 0x1000;
    put64(mem, layout::kPdptAddr + i * 8, pd | 0x3);
    for (uint64_t j = 0; j < 512; ++j) put64(mem, pd + j * 8, ((i * 512 + j) << 21) | 0x83);
  }
  CpuBootState s;
  s.mode = CpuBootState::Mode::kLong64;
  s.rip = rip;
  s.rsp = layout::kBootStackTop;
  s.cr0 = 0x80000033;         // PG | NE | ET | MP | PE
  s.cr3 = layout::kPml4Addr;
  s.cr4 = 0x620;              // OSXMMEXCPT | OSFXSR | PAE
  s.efer = 0x500;             // LMA | LME
  s.gdt_base = layout::kGdtAddr;
  s.gdt_limit = 23;
  s.cs = {0, 0xfffff, 0x8, 0xb, 1, 0, 0, 1, 1, 1};
  s.ds = {0, 0xfffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1};
  return s;
}

CpuBootState real_mode_state(uint64_t rip) {
  CpuBootState s;
  s.mode = CpuBootState::Mode::kReal;
  s.rip = rip;
  s.cr0 = 0x60000010;  // the reset value (CD | NW | ET)
  s.cs = {0, 0xffff, 0, 0xb, 1, 0, 0, 1, 0, 0};
  s.ds = {0, 0xffff, 0, 0x3, 1, 0, 0, 1, 0, 0};
  s.idt_limit = 0x3ff;
  return s;
}

}  // namespace amber::kvm::test
