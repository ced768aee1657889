#include "kvm/boot_regs.h"

namespace amber::kvm {

kvm_segment to_kvm_segment(const SegmentDesc& d) {
  kvm_segment k{};
  k.base = d.base;
  k.limit = d.limit;
  k.selector = d.selector;
  k.type = d.type;
  k.present = d.present;
  k.dpl = d.dpl;
  k.db = d.db;
  k.s = d.s;
  k.l = d.l;
  k.g = d.g;
  k.avl = 0;
  // VMX and SVM both reject a not-present segment unless it is marked
  // unusable (SDM 26.3.1.2; KVM's svm_set_segment maps it to attrib 0).
  k.unusable = d.present ? 0 : 1;
  return k;
}

kvm_regs boot_regs(const CpuBootState& s) {
  kvm_regs r{};
  r.rip = s.rip;
  r.rsp = s.rsp;
  r.rbp = s.rbp;
  r.rsi = s.rsi;
  r.rbx = s.rbx;
  r.rax = s.rax;  // multiboot: the loader magic (Multiboot 0.6.96 section 3.2)
  r.rflags = s.rflags | kRflagsReserved1;
  return r;
}

kvm_sregs boot_sregs(const CpuBootState& s, const kvm_sregs& base) {
  kvm_sregs r = base;
  r.cs = to_kvm_segment(s.cs);
  kvm_segment data = to_kvm_segment(s.ds);
  r.ds = r.es = r.fs = r.gs = r.ss = data;
  r.gdt.base = s.gdt_base;
  r.gdt.limit = s.gdt_limit;
  r.idt.base = s.idt_base;
  r.idt.limit = s.idt_limit;
  r.cr0 = s.cr0;
  r.cr3 = s.cr3;
  r.cr4 = s.cr4;
  r.efer = s.efer;
  switch (s.mode) {
    case CpuBootState::Mode::kReal:
      r.cr0 &= ~(kCr0Pe | kCr0Pg);
      r.efer &= ~kEferLma;
      break;
    case CpuBootState::Mode::kProtected32:
      r.cr0 |= kCr0Pe;
      break;
    case CpuBootState::Mode::kLong64:
      r.cr0 |= kCr0Pe | kCr0Pg;
      r.cr4 |= kCr4Pae;
      r.efer |= kEferLme | kEferLma;
      break;
  }
  // No interrupt is pending at boot (api.rst: interrupt_bitmap is the
  // pending external interrupt, at most one bit set).
  for (auto& w : r.interrupt_bitmap) w = 0;
  return r;
}

}  // namespace amber::kvm
