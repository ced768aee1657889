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
