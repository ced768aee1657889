#include "firmware/kernel_loader.h"

#include <cstring>

#include "amber/error.h"
#include "firmware/boot_params.h"
#include "firmware/elf64.h"
#include "firmware/linux_boot.h"
#include "firmware/memory_map.h"
#include "firmware/multiboot.h"
#include "firmware/pvh_boot.h"

namespace amber::x86 {

const char* kernel_format_name(KernelFormat f) {
  switch (f) {
    case KernelFormat::kBzImage: return "bzimage";
    case KernelFormat::kPvh: return "pvh";
    case KernelFormat::kMultiboot: return "multiboot";
  }
  return "?";
}

KernelFormat detect_kernel_format(std::span<const uint8_t> kernel) {
  if (kernel.empty()) throw Error("kernel: file is empty");
  bool elf64 = is_elf(kernel) && kernel.size() > 4 && kernel[4] == kElfClass64;
  if (elf64 && has_pvh_entry_note(kernel)) return KernelFormat::kPvh;
  MultibootScan mb = scan_multiboot_header(kernel);
  if (mb.header_offset) return KernelFormat::kMultiboot;
  if (elf64) return KernelFormat::kPvh;
  uint32_t magic = 0;
  constexpr uint64_t kMagicAt = kSetupHeaderOffset + offsetof(SetupHeader, header);
  if (kernel.size() >= kMagicAt + sizeof magic) std::memcpy(&magic, kernel.data() + kMagicAt, sizeof magic);
  if (magic == kHdrSMagic) return KernelFormat::kBzImage;
  if (mb.bad_checksum_offset)
    throw Error(fmt::format("kernel: the multiboot magic at {:#x} has a bad checksum (magic + flags + checksum "
                            "must be 0 mod 2^32)",
                            *mb.bad_checksum_offset));
  throw Error("kernel: not a bzImage (\"HdrS\" at 0x202), a PVH ELF (ELF64 with the Xen PVH entry note) or a "
              "multiboot kernel (magic 0x1BADB002 in the first 8192 bytes)");
}

BootResult load_kernel(GuestMemory& mem, std::span<const uint8_t> kernel, std::span<const BootModule> modules,
                       const std::string& cmdline, uint64_t mem_bytes) {
  validate_mem_size(mem_bytes);
  KernelFormat f = detect_kernel_format(kernel);
  if (f == KernelFormat::kMultiboot) return load_multiboot(mem, kernel, modules, cmdline, mem_bytes);
  if (modules.size() > 1)
    throw Error(fmt::format("kernel: a Linux kernel takes one initrd, not {} (several modules are for multiboot "
                            "kernels)",
                            modules.size()));
  std::span<const uint8_t> initrd = modules.empty() ? std::span<const uint8_t>{} : modules[0].data;
  BootResult r = f == KernelFormat::kPvh ? load_pvh(mem, kernel, initrd, cmdline, mem_bytes)
                                         : load_bzimage(mem, kernel, initrd, cmdline, mem_bytes);
  r.format = f;
  return r;
}


}  // namespace amber::x86
