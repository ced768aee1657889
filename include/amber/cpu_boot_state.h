#pragma once
// The register state a boot protocol asks the first vCPU to start with, in
// plain types so firmware/ does not depend on KVM. src/kvm converts it into
// kvm_regs/kvm_sregs.
#include <cstdint>

namespace amber {

struct SegmentDesc {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  uint8_t type = 0;  // 4-bit descriptor type
  uint8_t present = 0, dpl = 0, db = 0, s = 0, l = 0, g = 0;
};

struct CpuBootState {
  enum class Mode { kReal, kProtected32, kLong64 };
  Mode mode = Mode::kLong64;
  uint64_t rip = 0, rsp = 0, rbp = 0, rsi = 0, rbx = 0, rax = 0, rflags = 0x2;
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
  uint64_t idt_base = 0;
  uint16_t idt_limit = 0;
  SegmentDesc cs, ds;  // ds is used for ds/es/fs/gs/ss
};

}  // namespace amber
