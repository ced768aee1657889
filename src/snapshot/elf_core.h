#pragma once
// `amber dump IMAGE --elf OUT`: the guest of an image as an ELF64 core file
// that gdb, crash and drgn open (docs/debugging.md, "Crash dumps from
// images"). The layout follows QEMU's dump-guest-memory (dump/dump.c,
// target/i386/arch_dump.c): a PT_NOTE with one NT_PRSTATUS (and, where the
// image has XSAVE state, one NT_FPREGSET) per vCPU, then one "QEMU"
// CPU-state note per vCPU, then one PT_LOAD per RAM region, then PT_LOADs
// for the kernel's virtual mappings (QEMU's paging=true).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "amber/state.h"
#include "snapshot/image.h"

namespace amber::image {

struct ElfCoreOptions {
  bool sync = true;  // fsync the file and its directory before returning
  // Also PT_LOADs at the kernel's virtual addresses, from vCPU 0's page
  // tables (kernel_mappings.h), the same file bytes as the physical ones.
  bool kernel_mappings = true;
};

// At most this many kernel-virtual PT_LOADs (e_phnum stays below PN_XNUM).
inline constexpr size_t kMaxVirtualLoads = 60000;

struct ElfCoreStats {
  uint64_t file_size = 0;        // apparent size
  uint64_t allocated_bytes = 0;  // st_blocks * 512: the zero pages are holes
  uint64_t ram_bytes = 0;        // guest RAM the PT_LOADs cover
  uint64_t data_bytes = 0;       // non-zero guest RAM written
  size_t vcpus = 0;
  size_t loads = 0;              // PT_LOAD segments
  size_t kernel_loads = 0;       // ... of which at kernel virtual addresses
  double seconds = 0;
};

// Writes the core file of `img` to `path` atomically (AtomicFile: nothing
// at `path` changes unless the whole file was written). Every RAM byte
// written is checked against the image's checksums on the way (raw runs and
// zstd frames alike); zero pages are left as holes. Throws amber::Error
// naming the problem (a vCPU without saved registers, a checksum mismatch,
// an unwritable `path`, `path` being the image itself).
ElfCoreStats write_elf_core(const Image& img, const std::string& path, const ElfCoreOptions& opt = {});

// The saved vCPUs of an image's machine tree in index order: the children
// vcpu@0, vcpu@1, ... of /machine/vcpus. Error when there is none or an
// index is missing.
std::vector<const StateNode*> saved_vcpus(const StateNode& machine);

// The NT_PRSTATUS descriptor (Linux x86-64 `struct elf_prstatus`, 336
// bytes) for vCPU `index`, from its saved `regs` (kvm_regs) and `sregs`
// (kvm_sregs); pr_pid = index + 1, so gdb shows one thread per vCPU.
std::vector<uint8_t> elf_prstatus(const StateNode& vcpu, uint32_t index);

// The NT_FPREGSET descriptor (x86-64 `user_fpregs_struct`, 512 bytes: x87,
// MXCSR, XMM0-15) for a vCPU: the legacy FXSAVE region that opens its saved
// `xsave` property (Intel SDM vol. 1, 13.4.1). Empty without `xsave` (a
// host without XSAVE saves `fpu`, a kvm_fpu, which is left out).
inline constexpr size_t kFxsaveSize = 512;
std::vector<uint8_t> elf_fpregset(const StateNode& vcpu);

// QEMU's x86-64 "QEMU" note descriptor (QEMUCPUState version 1, 440 bytes:
// registers, segments with QEMU's descriptor flags, CR0-CR4 and
// KERNEL_GS_BASE), which crash reads for CR3 and the IDT base.
std::vector<uint8_t> qemu_cpu_state(const StateNode& vcpu, uint32_t index);

}  // namespace amber::image
