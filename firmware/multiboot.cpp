// Loading a multiboot kernel (Multiboot Specification 0.6.96): the image,
// its modules and the boot information (section 3.3), and the machine
// state at entry (section 3.2). The layout is in docs/boot.md "Multiboot".
#include "firmware/multiboot.h"

#include <algorithm>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_helpers.h"
#include "firmware/boot_layout.h"
#include "firmware/memory_map.h"
#include "firmware/page_tables.h"

namespace amber::x86 {
namespace {

constexpr const char* kBootLoaderName = "amber";

uint64_t page_align_up(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

const char* form_name(MultibootImage::Form f) {
  switch (f) {
    case MultibootImage::Form::kElf32: return "ELF32";
    case MultibootImage::Form::kElf64: return "ELF64";
    case MultibootImage::Form::kAddressFields: return "address fields";
  }
  return "?";
}

// The first word of a module string: its file name (for messages).
std::string module_name(const BootModule& m) { return m.cmdline.substr(0, m.cmdline.find(' ')); }

// A string for the string area: no NUL inside (the guest reads up to the
// first), checked before anything is written.
void check_string(const std::string& s, const std::string& what) {
  if (s.find('\0') != std::string::npos) throw Error(fmt::format("{}: contains a NUL byte", what));
}

struct Placement {
  std::vector<uint64_t> module_addrs;
  std::vector<uint64_t> string_addrs;  // each module's string
  uint64_t loader_name_addr = 0;
};

// Decides where every module and string goes, and throws if anything does
// not fit, before anything is written.
Placement place(const MultibootImage& img, std::span<const BootModule> modules, uint64_t low_ram_end) {
  if (modules.size() > kMaxMultibootModules)
    throw Error(fmt::format("multiboot: {} modules (amber takes at most {})", modules.size(), kMaxMultibootModules));
  Placement p;
  // Page-aligned one after the other above the image (3.1.2 bit 0 asks for
  // page alignment; amber gives it to every kernel, as QEMU does).
  uint64_t next = page_align_up(img.load_end);
  for (size_t i = 0; i < modules.size(); ++i) {
    uint64_t size = modules[i].data.size();
    if (next > low_ram_end || size > low_ram_end - next)
      throw Error(fmt::format("multiboot: module {} ({}, {}) does not fit in guest RAM: it would take [{:#x}, "
                              "{:#x}) and RAM below 4 GiB ends at {:#x}",
                              i, module_name(modules[i]), human_size(size), next, next + size, low_ram_end));
    p.module_addrs.push_back(next);
    next = page_align_up(next + size);
  }
  uint64_t str = kMbStringsAddr;
  auto take = [&](const std::string& s, const std::string& what) {
    check_string(s, what);
    if (s.size() + 1 > kMbStringsEnd - str)
      throw Error(fmt::format("multiboot: the module strings take more than the {} bytes amber has for them",
                              kMbStringsEnd - kMbStringsAddr));
    uint64_t at = str;
    str += s.size() + 1;
    return at;
  };
  p.loader_name_addr = take(kBootLoaderName, "boot loader name");
  for (size_t i = 0; i < modules.size(); ++i)
    p.string_addrs.push_back(take(modules[i].cmdline, fmt::format("multiboot: module {} string", i)));
  return p;
}

void write_string(const GuestMemory& mem, uint64_t addr, const std::string& s) {
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size() + 1);
  mem.write(addr, bytes);
}

}  // namespace

std::string multiboot_command_line(const std::string& kernel_path, const std::string& args) {
  return args.empty() ? kernel_path : kernel_path + " " + args;
}

BootResult load_multiboot(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const BootModule> modules,
                          const std::string& cmdline, uint64_t mem_bytes) {
  uint64_t low_end = low_ram_end(mem_bytes);
  MultibootImage img = parse_multiboot(file, low_end);
  Placement p = place(img, modules, low_end);
  auto map = memory_map(mem_bytes);
  static_assert(kMbMmapAddr + 4 * sizeof(MultibootMmapEntry) <= kMbModsAddr);
  if (kMbMmapAddr + map.size() * sizeof(MultibootMmapEntry) > kMbModsAddr) throw Error("multiboot: mmap does not fit");
  if (cmdline.size() > layout::kCmdlineMax - 1)  // write_cmdline checks too; here, before anything is written
    throw Error(fmt::format("cmdline: {} bytes exceed the limit of {} bytes", cmdline.size(), layout::kCmdlineMax - 1));
  check_string(cmdline, "cmdline");

  for (const MultibootSegment& s : img.segments) {
    mem.write(s.paddr, file.subspan(s.offset, s.filesz));
    // The bss: guest RAM may be reused (a reboot), so zero it explicitly.
    auto tail = mem.try_slice(s.paddr + s.filesz, s.memsz - s.filesz);
    if (!tail) throw Error(fmt::format("kernel: multiboot segment at {:#x} is outside guest RAM", s.paddr));
    populate_for_write(tail->data(), tail->size());
    std::fill(tail->begin(), tail->end(), uint8_t{0});
  }
  write_cmdline(mem, cmdline, layout::kCmdlineMax - 1);
  write_string(mem, p.loader_name_addr, kBootLoaderName);

  for (size_t i = 0; i < modules.size(); ++i) {
    mem.write(p.module_addrs[i], modules[i].data);
    write_string(mem, p.string_addrs[i], modules[i].cmdline);
    MultibootModule m{static_cast<uint32_t>(p.module_addrs[i]),
                      static_cast<uint32_t>(p.module_addrs[i] + modules[i].data.size()),
                      static_cast<uint32_t>(p.string_addrs[i]), 0};
    if (!mem.write_obj(kMbModsAddr + i * sizeof m, m)) throw Error("multiboot: module list is outside guest RAM");
  }
  for (size_t i = 0; i < map.size(); ++i) {
    MultibootMmapEntry e{sizeof(MultibootMmapEntry) - sizeof(uint32_t), map[i].addr, map[i].size, map[i].type};
    if (!mem.write_obj(kMbMmapAddr + i * sizeof e, e)) throw Error("multiboot: mmap is outside guest RAM");
  }

  MultibootInfo info{};
  info.flags = kMbInfoMemory | kMbInfoCmdline | kMbInfoMods | kMbInfoMmap | kMbInfoBootLoaderName;
  // 3.3: mem_lower counts from 0 (at most 640 KiB: RAM ends at the EBDA),
  // mem_upper from 1 MiB to the first hole (the end of low RAM).
  info.mem_lower = static_cast<uint32_t>(layout::kEbdaStart >> 10);
  info.mem_upper = static_cast<uint32_t>((low_end - layout::kHighMemStart) >> 10);
  info.cmdline = static_cast<uint32_t>(layout::kCmdlineAddr);
  info.mods_count = static_cast<uint32_t>(modules.size());
  info.mods_addr = static_cast<uint32_t>(kMbModsAddr);
  info.mmap_length = static_cast<uint32_t>(map.size() * sizeof(MultibootMmapEntry));
  info.mmap_addr = static_cast<uint32_t>(kMbMmapAddr);
  info.boot_loader_name = static_cast<uint32_t>(p.loader_name_addr);
  if (!mem.write_obj(kMbInfoAddr, info)) throw Error("multiboot: information is outside guest RAM");

  // 3.2 does not let the OS rely on GDTR, but a valid flat GDT costs
  // nothing and makes a segment reload before the kernel's own GDT safe.
  write_gdt_idt(mem);

  BootResult r;
  r.format = KernelFormat::kMultiboot;
  // 3.2: protected mode, paging off, flat 4 GiB CS (read/execute) and data
  // segments, IF clear; A20 is always on in a KVM guest.
  r.cpu = protected_mode_state(img.entry);
  r.cpu.rax = kMultibootBootloaderMagic;
  r.cpu.rbx = kMbInfoAddr;
  r.kernel_end = img.load_end;
  if (!modules.empty()) {
    r.initrd_addr = p.module_addrs[0];
    r.initrd_size = modules[0].data.size();
  }
  r.description = fmt::format("multiboot {}, image [{:#x}, {:#x}), 32-bit entry {:#x}, information at {:#x}",
                              form_name(img.form), img.load_start, img.load_end, img.entry, kMbInfoAddr);
  if (modules.empty()) r.description += ", no modules";
  for (size_t i = 0; i < modules.size(); ++i)
    r.description += fmt::format("{} {} ({}) at {:#x}", i == 0 ? ", modules:" : ",", module_name(modules[i]),
                                 human_size(modules[i].data.size()), p.module_addrs[i]);
  return r;
}

}  // namespace amber::x86
