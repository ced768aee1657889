// amber dump --elf: an ELF64 core file of an image's guest (docs/debugging.md).
#include "snapshot/elf_core.h"

#include "snapshot/kernel_mappings.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/atomic_file.h"
#include "snapshot/image_format.h"
#include "snapshot/zero_scan.h"

namespace amber::image {
namespace {

// The KVM structs an image's vCPU node holds (docs/vcpu-state.md), as
// <linux/kvm.h> lays them out; a stable ABI (api.rst: KVM_GET_REGS,
// KVM_GET_SREGS). Mirrored here because only src/kvm includes the KVM
// headers; elf_core_test.cpp pins sizes and offsets against them.
struct KvmRegs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip, rflags;
};
static_assert(sizeof(KvmRegs) == 144);

struct KvmSegment {
  uint64_t base;
  uint32_t limit;
  uint16_t selector;
  uint8_t type, present, dpl, db, s, l, g, avl, unusable, padding;
};
static_assert(sizeof(KvmSegment) == 24);

struct KvmDtable {
  uint64_t base;
  uint16_t limit;
  uint16_t padding[3];
};
static_assert(sizeof(KvmDtable) == 16);

struct KvmSregs {
  KvmSegment cs, ds, es, fs, gs, ss, tr, ldt;
  KvmDtable gdt, idt;
  uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
  uint64_t interrupt_bitmap[4];
};
static_assert(sizeof(KvmSregs) == 312);

// Linux's x86-64 `struct elf_prstatus` (include/uapi/linux/elfcore.h with
// arch/x86/include/asm/user_64.h's user_regs_struct as elf_gregset_t), the
// layout gdb's amd64-linux core reader expects. Only pr_pid and pr_reg are
// filled; the signal and time fields stay zero, as in QEMU's dumps.
struct UserRegs {
  uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
  uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
  uint64_t fs_base, gs_base, ds, es, fs, gs;
};
static_assert(sizeof(UserRegs) == 27 * 8);

struct Prstatus {
  uint8_t info_and_signals[32];  // pr_info, pr_cursig, pr_sigpend, pr_sighold
  uint32_t pid, ppid, pgrp, sid;
  uint8_t times[64];             // pr_utime, pr_stime, pr_cutime, pr_cstime
  UserRegs reg;
  uint32_t fpvalid;
  uint32_t pad;
};
static_assert(sizeof(Prstatus) == 336 && offsetof(Prstatus, pid) == 32 && offsetof(Prstatus, reg) == 112);

// QEMU's x86-64 CPU-state note (target/i386/arch_dump.c QEMUCPUState,
// version 1); crash reads CR3 and the IDT base from it (KASLR detection).
struct QemuSegment {
  uint32_t selector, limit, flags, pad;
  uint64_t base;
};
struct QemuCpuState {
  uint32_t version, size;
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip, rflags;
  QemuSegment cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt;
  uint64_t cr[5];
  uint64_t kernel_gs_base;
};
static_assert(sizeof(QemuCpuState) == 440);

constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

template <class T>
std::optional<T> prop_as(const StateNode& n, std::string_view name, uint32_t index) {
  auto* p = n.prop(name);
  if (!p) return std::nullopt;
  if (p->size() != sizeof(T))
    throw Error(fmt::format("vcpu@{}: saved '{}' has {} bytes, not {}", index, name, p->size(), sizeof(T)));
  T v;
  std::memcpy(&v, p->data(), sizeof(T));
  return v;
}

KvmRegs regs_of(const StateNode& vcpu, uint32_t index) {
  auto r = prop_as<KvmRegs>(vcpu, "regs", index);
  if (!r) throw Error(fmt::format("vcpu@{}: no saved registers ('regs'); not an image of a KVM guest", index));
  return *r;
}

// Without `sregs` (not written by amber on KVM, but the node is untrusted)
// the segment fields are zero.
KvmSregs sregs_of(const StateNode& vcpu, uint32_t index) {
  return prop_as<KvmSregs>(vcpu, "sregs", index).value_or(KvmSregs{});
}

// IA32_KERNEL_GS_BASE from the `msrs` property (kvm_msrs: u32 nmsrs, u32
// pad, then {u32 index, u32 reserved, u64 data} entries); 0 when absent.
uint64_t kernel_gs_base(const StateNode& vcpu) {
  auto* p = vcpu.prop("msrs");
  if (!p || p->size() < 8 || (p->size() - 8) % 16) return 0;
  for (size_t off = 8; off < p->size(); off += 16) {
    uint32_t idx;
    uint64_t data;
    std::memcpy(&idx, p->data() + off, 4);
    std::memcpy(&data, p->data() + off + 8, 8);
    if (idx == kMsrKernelGsBase) return data;
  }
  return 0;
}

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  auto* p = reinterpret_cast<const uint8_t*>(&v);
  return {p, p + sizeof(T)};
}

// QEMU's SegmentCache flags: the descriptor's high dword bits (DESC_*_MASK
// in target/i386/cpu.h), as its KVM code builds them from kvm_segment.
QemuSegment qemu_segment(const KvmSegment& s) {
  uint32_t flags = uint32_t(s.type & 0xf) << 8 | uint32_t(s.s & 1) << 12 | uint32_t(s.dpl & 3) << 13 |
                   uint32_t((s.present && !s.unusable) ? 1 : 0) << 15 | uint32_t(s.avl & 1) << 20 |
                   uint32_t(s.l & 1) << 21 | uint32_t(s.db & 1) << 22 | uint32_t(s.g & 1) << 23;
  return {s.selector, s.limit, flags, 0, s.base};
}

// One ELF note: header, name and descriptor each padded to 4 bytes (the
// alignment Linux cores use for SHT_NOTE on every architecture).
void append_note(std::vector<uint8_t>& out, const char* name, uint32_t type, const std::vector<uint8_t>& desc) {
  auto pad4 = [&] { out.resize((out.size() + 3) & ~size_t{3}, 0); };
  Elf64_Nhdr h{};
  h.n_namesz = static_cast<uint32_t>(std::strlen(name) + 1);
  h.n_descsz = static_cast<uint32_t>(desc.size());
  h.n_type = type;
  auto hb = bytes_of(h);
  out.insert(out.end(), hb.begin(), hb.end());
  out.insert(out.end(), name, name + h.n_namesz);
  pad4();
  out.insert(out.end(), desc.begin(), desc.end());
  pad4();
}

uint64_t page_up(uint64_t v) { return (v + kPageSize - 1) / kPageSize * kPageSize; }

}  // namespace

std::vector<const StateNode*> saved_vcpus(const StateNode& machine) {
  const StateNode* vcpus = machine.child("vcpus");
  if (!vcpus || vcpus->children.empty()) throw Error("the image holds no saved vCPUs (/machine/vcpus)");
  std::map<uint32_t, const StateNode*> by_index;
  for (auto& [name, node] : vcpus->children) {
    constexpr std::string_view kPrefix = "vcpu@";
    if (name.rfind(kPrefix, 0) != 0) continue;
    uint32_t i = 0;
    auto [end, ec] = std::from_chars(name.data() + kPrefix.size(), name.data() + name.size(), i);
    if (ec != std::errc{} || end != name.data() + name.size()) continue;
    by_index[i] = &node;
  }
  std::vector<const StateNode*> out;
  for (auto& [i, node] : by_index) {
    if (i != out.size()) throw Error(fmt::format("the image's vCPUs skip index {} (next saved: vcpu@{})", out.size(), i));
    out.push_back(node);
  }
  if (out.empty()) throw Error("the image holds no saved vCPUs (/machine/vcpus)");
  return out;
}

std::vector<uint8_t> elf_prstatus(const StateNode& vcpu, uint32_t index) {
  KvmRegs r = regs_of(vcpu, index);
  KvmSregs s = sregs_of(vcpu, index);
  Prstatus p{};
  p.pid = index + 1;  // gdb makes each NT_PRSTATUS a thread, LWP pr_pid; 0 would read as "no thread"
  UserRegs& u = p.reg;
  u.r15 = r.r15, u.r14 = r.r14, u.r13 = r.r13, u.r12 = r.r12, u.rbp = r.rbp, u.rbx = r.rbx;
  u.r11 = r.r11, u.r10 = r.r10, u.r9 = r.r9, u.r8 = r.r8, u.rax = r.rax, u.rcx = r.rcx;
  u.rdx = r.rdx, u.rsi = r.rsi, u.rdi = r.rdi;
  u.orig_rax = ~uint64_t{0};  // not inside a system call (what Linux stores outside one)
  u.rip = r.rip, u.eflags = r.rflags, u.rsp = r.rsp;
  u.cs = s.cs.selector, u.ss = s.ss.selector, u.ds = s.ds.selector, u.es = s.es.selector;
  u.fs = s.fs.selector, u.gs = s.gs.selector;
  u.fs_base = s.fs.base, u.gs_base = s.gs.base;
  return bytes_of(p);
}

std::vector<uint8_t> elf_fpregset(const StateNode& vcpu) {
  auto* x = vcpu.prop("xsave");
  if (!x || x->size() < kFxsaveSize) return {};
  return {x->begin(), x->begin() + kFxsaveSize};
}

std::vector<uint8_t> qemu_cpu_state(const StateNode& vcpu, uint32_t index) {
  KvmRegs r = regs_of(vcpu, index);
  KvmSregs s = sregs_of(vcpu, index);
  QemuCpuState q{};
  q.version = 1;
  q.size = sizeof(q);
  q.rax = r.rax, q.rbx = r.rbx, q.rcx = r.rcx, q.rdx = r.rdx, q.rsi = r.rsi, q.rdi = r.rdi;
  q.rsp = r.rsp, q.rbp = r.rbp, q.r8 = r.r8, q.r9 = r.r9, q.r10 = r.r10, q.r11 = r.r11;
  q.r12 = r.r12, q.r13 = r.r13, q.r14 = r.r14, q.r15 = r.r15, q.rip = r.rip, q.rflags = r.rflags;
  q.cs = qemu_segment(s.cs), q.ds = qemu_segment(s.ds), q.es = qemu_segment(s.es);
  q.fs = qemu_segment(s.fs), q.gs = qemu_segment(s.gs), q.ss = qemu_segment(s.ss);
  q.ldt = qemu_segment(s.ldt), q.tr = qemu_segment(s.tr);
  q.gdt = {0, s.gdt.limit, 0, 0, s.gdt.base};
  q.idt = {0, s.idt.limit, 0, 0, s.idt.base};
  q.cr[0] = s.cr0, q.cr[2] = s.cr2, q.cr[3] = s.cr3, q.cr[4] = s.cr4;
  q.kernel_gs_base = kernel_gs_base(vcpu);
  return bytes_of(q);
}

// vCPU 0's kernel mappings when it was in long mode with paging; none
// otherwise (a bare-metal guest in 32-bit mode, paging off).
static std::vector<VirtualRun> guest_kernel_mappings(const Image& img) {
  auto vcpus = saved_vcpus(img.machine());
  KvmSregs s = sregs_of(*vcpus[0], 0);
  constexpr uint64_t kCr0Pg = 1ull << 31, kCr4La57 = 1ull << 12, kEferLma = 1ull << 10;
  if (!(s.cr0 & kCr0Pg) || !(s.efer & kEferLma)) return {};
  const auto& regions = img.ram_regions();
  std::vector<Mapping> ram;
  for (size_t i = 0; i < regions.size(); ++i) ram.push_back(img.map_ram(i));
  PhysRead read = [&](uint64_t gpa, void* out, size_t len) {
    for (size_t i = 0; i < regions.size(); ++i) {
      auto& r = regions[i];
      if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa)) {
        std::memcpy(out, ram[i].data() + (gpa - r.gpa), len);
        return true;
      }
    }
    return false;
  };
  return kernel_mappings(s.cr3, s.cr4 & kCr4La57, read);
}

ElfCoreStats write_elf_core(const Image& img, const std::string& path, const ElfCoreOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  ElfCoreStats st;
  // Replacing the image with its own dump would lose the image.
  struct stat out_st {}, img_st {};
  if (::stat(path.c_str(), &out_st) == 0 && ::fstat(img.fd(), &img_st) == 0 && out_st.st_dev == img_st.st_dev &&
      out_st.st_ino == img_st.st_ino)
    throw Error(fmt::format("{}: is the image itself; choose another output file", path));

  // Notes first: every vCPU's registers are checked before any file exists.
  std::vector<uint8_t> notes;
  try {
    auto vcpus = saved_vcpus(img.machine());
    for (size_t i = 0; i < vcpus.size(); ++i) {
      append_note(notes, "CORE", NT_PRSTATUS, elf_prstatus(*vcpus[i], static_cast<uint32_t>(i)));
      // After its NT_PRSTATUS: a reader gives a register note to the thread
      // of the NT_PRSTATUS before it (BFD's elfcore_grok_note).
      if (auto fp = elf_fpregset(*vcpus[i]); !fp.empty()) append_note(notes, "CORE", NT_FPREGSET, fp);
    }
    for (size_t i = 0; i < vcpus.size(); ++i)
      append_note(notes, "QEMU", 0, qemu_cpu_state(*vcpus[i], static_cast<uint32_t>(i)));
    st.vcpus = vcpus.size();
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", img.path(), e.what()));
  }

  const auto& regions = img.ram_regions();
  std::vector<VirtualRun> vruns = opt.kernel_mappings ? guest_kernel_mappings(img) : std::vector<VirtualRun>{};
  // Each run as PT_LOADs, one per RAM region it lies in (a run over a hole
  // in RAM is cut there).
  struct VirtualLoad {
    uint64_t vaddr, paddr, size;
    size_t region;
  };
  std::vector<VirtualLoad> vloads;
  for (auto& run : vruns)
    for (size_t i = 0; i < regions.size() && vloads.size() < kMaxVirtualLoads; ++i) {
      uint64_t lo = std::max(run.paddr, regions[i].gpa);
      uint64_t hi = std::min(run.paddr + run.size, regions[i].gpa + regions[i].size);
      if (lo < hi) vloads.push_back({run.vaddr + (lo - run.paddr), lo, hi - lo, i});
    }
  size_t phnum = 1 + regions.size() + vloads.size();  // below PN_XNUM: kMaxVirtualLoads
  uint64_t notes_off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  uint64_t data_off = page_up(notes_off + notes.size());

  std::vector<uint8_t> head(notes_off);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(phnum);
  std::memcpy(head.data(), &eh, sizeof(eh));

  auto put_phdr = [&](size_t k, const Elf64_Phdr& ph) {
    std::memcpy(head.data() + sizeof(Elf64_Ehdr) + k * sizeof(Elf64_Phdr), &ph, sizeof(ph));
  };
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_off;
  note.p_filesz = note.p_memsz = notes.size();
  put_phdr(0, note);
  std::vector<uint64_t> region_off(regions.size());
  uint64_t off = data_off;
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_W | PF_X;
    ph.p_offset = off;
    // p_paddr is what crash and drgn read physical memory by. gdb reads by
    // p_vaddr; the guest-physical address there lets it read a bare-metal
    // (identity-mapped) guest at its own addresses. QEMU's
    // dump-guest-memory without paging writes 0; Linux's /proc/vmcore the
    // direct-map address. docs/debugging.md says what that means for Linux.
    ph.p_paddr = ph.p_vaddr = r.gpa;
    ph.p_filesz = ph.p_memsz = r.size;
    ph.p_align = kPageSize;
    put_phdr(1 + i, ph);
    region_off[i] = off;
    off += r.size;
    st.ram_bytes += r.size;
  }
  // The same file bytes again at kernel virtual addresses: gdb reads by
  // p_vaddr, so `gdb vmlinux vm.core` finds the kernel's symbols there.
  for (size_t k = 0; k < vloads.size(); ++k) {
    auto& v = vloads[k];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_W | PF_X;
    ph.p_offset = region_off[v.region] + (v.paddr - regions[v.region].gpa);
    ph.p_vaddr = v.vaddr;
    ph.p_paddr = v.paddr;
    ph.p_filesz = ph.p_memsz = v.size;
    ph.p_align = kPageSize;
    put_phdr(1 + regions.size() + k, ph);
  }
  st.loads = regions.size() + vloads.size();
  st.kernel_loads = vloads.size();
  st.file_size = off;

  AtomicFile out(path);
  out.write_at(0, head);
  out.write_at(notes_off, notes);
  // The file's size first: everything not written below stays a hole.
  if (::ftruncate(out.fd(), static_cast<off_t>(st.file_size)) < 0)
    throw SysError(fmt::format("{}: set size to {} bytes", path, st.file_size), errno);

  std::vector<uint8_t> buf;
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    auto write = [&](uint64_t guest_off, const uint8_t* p, uint64_t len) {
      out.write_at(region_off[i] + guest_off, {p, len});
      st.data_bytes += len;
    };
    if (!r.compressed()) {
      // Runs hold exactly the non-zero pages (the writer scanned them).
      for (auto& run : r.runs) {
        buf.resize(run.length);
        img.read_ram(i, run.offset, buf);
        write(run.offset, buf.data(), run.length);
      }
      continue;
    }
    // A stored chunk may still hold zero pages: keep those holes too.
    for (auto& c : r.chunks) {
      buf.resize(c.length);
      img.read_ram(i, c.offset, buf);
      for_each_nonzero_run(buf.data(), c.length, {}, [&](uint64_t o, uint64_t len) {
        write(c.offset + o, buf.data() + o, len);
      });
    }
  }
  out.commit(opt.sync);
  struct stat done {};
  if (::fstat(out.fd(), &done) == 0) st.allocated_bytes = static_cast<uint64_t>(done.st_blocks) * 512;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace amber::image
