#include "firmware/pvh_boot.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_helpers.h"
#include "firmware/boot_layout.h"
#include "firmware/elf64.h"
#include "firmware/memory_map.h"
#include "firmware/page_tables.h"
#include "firmware/start_info.h"

namespace amber::x86 {
namespace {

constexpr uint16_t kMaxPhnum = 256;  // vmlinux has about 5; PN_XNUM (0xffff) is not supported
// Every x86 Linux declares initrd_addr_max 0x7fffffff in its setup header;
// PVH has no such field, so keep the initrd below the same limit.
constexpr uint64_t kPvhInitrdTop = 0x8000'0000;

template <class T>
T read_at(std::span<const uint8_t> file, uint64_t off) {
  T v;  // callers have checked off + sizeof(T) <= file.size()
  std::memcpy(&v, file.data() + off, sizeof(T));
  return v;
}

// True when [off, off+len) lies inside a buffer of `size` bytes (no overflow).
bool in_bounds(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

uint64_t align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

// Walks the notes of one PT_NOTE segment; returns the PVH entry if present.
std::optional<uint64_t> find_entry_note(std::span<const uint8_t> notes) {
  uint64_t pos = 0;
  while (notes.size() - pos >= sizeof(Elf64Nhdr)) {
    auto n = read_at<Elf64Nhdr>(notes, pos);
    uint64_t name_off = pos + sizeof(Elf64Nhdr);
    uint64_t desc_off = name_off + align4(n.n_namesz);
    uint64_t next = desc_off + align4(n.n_descsz);
    if (next > notes.size()) throw Error("kernel: ELF note runs past its PT_NOTE segment");
    static constexpr char kXen[4] = {'X', 'e', 'n', '\0'};
    if (n.n_type == kXenElfnotePhys32Entry && n.n_namesz == sizeof kXen &&
        std::memcmp(notes.data() + name_off, kXen, sizeof kXen) == 0) {
      // Linux emits the entry as _ASM_PTR (8 bytes on x86-64); Xen's own
      // tools read 4. Accept both, little-endian.
      if (n.n_descsz == 4) return read_at<uint32_t>(notes, desc_off);
      if (n.n_descsz == 8) return read_at<uint64_t>(notes, desc_off);
      throw Error(fmt::format("kernel: XEN_ELFNOTE_PHYS32_ENTRY has a {}-byte descriptor (want 4 or 8)", n.n_descsz));
    }
    pos = next;
  }
  return std::nullopt;
}

}  // namespace

bool is_elf(std::span<const uint8_t> file) {
  return file.size() >= sizeof kElfMagic && std::memcmp(file.data(), kElfMagic, sizeof kElfMagic) == 0;
}

bool has_pvh_entry_note(std::span<const uint8_t> file) {
  if (file.size() < sizeof(Elf64Ehdr) || !is_elf(file)) return false;
  auto eh = read_at<Elf64Ehdr>(file, 0);
  if (eh.e_ident[4] != kElfClass64 || eh.e_phentsize != sizeof(Elf64Phdr) || eh.e_phnum > kMaxPhnum ||
      !in_bounds(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64Phdr), file.size()))
    return false;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Elf64Phdr>(file, eh.e_phoff + uint64_t{i} * sizeof(Elf64Phdr));
    if (ph.p_type != kPtNote || !in_bounds(ph.p_offset, ph.p_filesz, file.size())) continue;
    try {
      if (find_entry_note(file.subspan(ph.p_offset, ph.p_filesz))) return true;
    } catch (const Error&) {
      // A malformed note: not found here; parse_pvh_elf() reports it.
    }
  }
  return false;
}

PvhImage parse_pvh_elf(std::span<const uint8_t> file, uint64_t low_ram_end) {
  if (file.size() < sizeof(Elf64Ehdr)) throw Error(fmt::format("kernel: truncated ELF: {} bytes", file.size()));
  auto eh = read_at<Elf64Ehdr>(file, 0);
  if (!is_elf(file)) throw Error("kernel: not a bzImage or PVH ELF");
  if (eh.e_ident[4] != kElfClass64) throw Error("kernel: ELF is not 64-bit (ELFCLASS64)");
  if (eh.e_ident[5] != kElfData2Lsb) throw Error("kernel: ELF is not little-endian");
  if (eh.e_machine != kEmX86_64) throw Error(fmt::format("kernel: ELF machine {} is not x86-64", eh.e_machine));
  if (eh.e_phentsize != sizeof(Elf64Phdr))
    throw Error(fmt::format("kernel: ELF e_phentsize {} (want {})", eh.e_phentsize, sizeof(Elf64Phdr)));
  if (eh.e_phnum == 0 || eh.e_phnum > kMaxPhnum)
    throw Error(fmt::format("kernel: ELF has {} program headers (want 1..{})", eh.e_phnum, kMaxPhnum));
  if (!in_bounds(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64Phdr), file.size()))
    throw Error(fmt::format("kernel: truncated ELF: program headers at {:#x} run past the {}-byte file", eh.e_phoff,
                            file.size()));

  PvhImage img;
  std::optional<uint64_t> entry;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Elf64Phdr>(file, eh.e_phoff + uint64_t{i} * sizeof(Elf64Phdr));
    if (ph.p_type != kPtLoad && ph.p_type != kPtNote) continue;
    if (!in_bounds(ph.p_offset, ph.p_filesz, file.size()))
      throw Error(fmt::format("kernel: truncated ELF: segment {} at {:#x}+{:#x} runs past the {}-byte file", i,
                              ph.p_offset, ph.p_filesz, file.size()));
    if (ph.p_type == kPtNote) {
      if (!entry) entry = find_entry_note(file.subspan(ph.p_offset, ph.p_filesz));
      continue;
    }
    if (ph.p_filesz > ph.p_memsz)
      throw Error(fmt::format("kernel: ELF segment {} has p_filesz {:#x} > p_memsz {:#x}", i, ph.p_filesz, ph.p_memsz));
    // Below 1 MiB live the boot structures (GDT, page tables, start_info).
    if (ph.p_paddr < layout::kHighMemStart || !in_bounds(ph.p_paddr, ph.p_memsz, low_ram_end))
      throw Error(fmt::format("kernel: ELF segment {} at {:#x}+{:#x} is outside guest RAM [{:#x}, {:#x})", i,
                              ph.p_paddr, ph.p_memsz, layout::kHighMemStart, low_ram_end));
    img.segments.push_back({ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz});
    img.load_end = std::max(img.load_end, ph.p_paddr + ph.p_memsz);
  }
  if (img.segments.empty()) throw Error("kernel: ELF has no PT_LOAD segment");
  if (!entry)
    throw Error("kernel: ELF has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot header");
  bool inside = std::any_of(img.segments.begin(), img.segments.end(),
                            [&](const ElfSegment& s) { return *entry >= s.paddr && *entry - s.paddr < s.memsz; });
  if (!inside) throw Error(fmt::format("kernel: PVH entry {:#x} is outside the loaded segments", *entry));
  img.entry = *entry;
  return img;
}

BootResult load_pvh(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const uint8_t> initrd,
                    const std::string& cmdline, uint64_t mem_bytes) {
  uint64_t low_end = low_ram_end(mem_bytes);
  PvhImage img = parse_pvh_elf(file, low_end);

  for (const ElfSegment& s : img.segments) {
    mem.write(s.paddr, file.subspan(s.offset, s.filesz));
    // The bss tail: guest RAM may be reused (a reboot), so zero it explicitly.
    auto tail = mem.try_slice(s.paddr + s.filesz, s.memsz - s.filesz);
    if (!tail) throw Error(fmt::format("kernel: ELF segment at {:#x} is outside guest RAM", s.paddr));
    populate_for_write(tail->data(), tail->size());
    std::fill(tail->begin(), tail->end(), uint8_t{0});
  }
  write_cmdline(mem, cmdline, layout::kCmdlineMax - 1);
  uint64_t initrd_addr = place_initrd(mem, initrd, img.load_end, std::min(low_end, kPvhInitrdTop));

  HvmStartInfo si{};
  si.magic = kHvmStartMagic;
  si.version = kHvmStartInfoVersion;
  si.cmdline_paddr = layout::kCmdlineAddr;
  if (!initrd.empty()) {
    HvmModlistEntry mod{initrd_addr, initrd.size(), 0, 0};
    if (!mem.write_obj(kPvhModlistAddr, mod)) throw Error("PVH modlist is outside guest RAM");
    si.nr_modules = 1;
    si.modlist_paddr = kPvhModlistAddr;
  }
  auto map = memory_map(mem_bytes);
  static_assert(kPvhMemmapAddr < kPvhPageEnd);
  if (map.size() * sizeof(HvmMemmapEntry) > kPvhPageEnd - kPvhMemmapAddr) throw Error("PVH memmap does not fit");
  for (size_t i = 0; i < map.size(); ++i) {
    HvmMemmapEntry e{map[i].addr, map[i].size, map[i].type, 0};
    if (!mem.write_obj(kPvhMemmapAddr + i * sizeof e, e)) throw Error("PVH memmap is outside guest RAM");
  }
  si.memmap_paddr = kPvhMemmapAddr;
  si.memmap_entries = static_cast<uint32_t>(map.size());
  if (!mem.write_obj(layout::kPvhStartInfo, si)) throw Error("PVH start_info is outside guest RAM");

  // Page tables are not used by the PVH entry (paging off), but writing them
  // keeps the boot data identical for both paths.
  write_gdt_idt(mem);
  write_identity_page_tables(mem);

  BootResult r;
  r.cpu = protected_mode_state(img.entry);
  r.cpu.rbx = layout::kPvhStartInfo;  // pvh.pandoc: "ebx: contains the physical memory address of start_info"
  r.kernel_end = img.load_end;
  r.initrd_addr = initrd_addr;
  r.initrd_size = initrd.size();
  r.description = fmt::format("PVH ELF, {} PT_LOAD segments up to {:#x}, 32-bit entry {:#x}, start_info {:#x}",
                              img.segments.size(), img.load_end, img.entry, layout::kPvhStartInfo);
  r.description += initrd.empty() ? ", no initrd" : fmt::format(", initrd {} at {:#x}", human_size(initrd.size()), initrd_addr);
  return r;
}

}  // namespace amber::x86
