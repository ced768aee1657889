// Finding and validating a multiboot image (Multiboot Specification 0.6.96
// section 3.1): the header, then either the ELF program headers or the
// header's address fields. Nothing here writes guest memory.
#include <algorithm>
#include <cstring>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/elf32.h"
#include "firmware/elf64.h"
#include "firmware/multiboot.h"

namespace amber::x86 {
namespace {

constexpr uint16_t kMaxPhnum = 256;

template <class T>
T read_at(std::span<const uint8_t> file, uint64_t off) {
  T v;  // callers have checked off + sizeof(T) <= file.size()
  std::memcpy(&v, file.data() + off, sizeof(T));
  return v;
}

// True when [off, off+len) lies inside [0, size) (no overflow).
bool in_bounds(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

// Below 1 MiB live amber's boot data (GDT, the multiboot information, the
// command line, the MP table); GRUB legacy refuses load addresses there too.
void check_placement(const char* what, uint64_t paddr, uint64_t memsz, uint64_t low_ram_end) {
  if (paddr < layout::kHighMemStart || !in_bounds(paddr, memsz, low_ram_end))
    throw Error(fmt::format("kernel: multiboot {} at {:#x}+{:#x} is outside guest RAM [{:#x}, {:#x}) (below 1 MiB "
                            "is amber's boot data)",
                            what, paddr, memsz, layout::kHighMemStart, low_ram_end));
}

template <class Ehdr, class Phdr>
void parse_elf(std::span<const uint8_t> file, uint64_t low_ram_end, uint16_t machine, MultibootImage& img) {
  const char* bits = sizeof(Ehdr) == sizeof(Elf32Ehdr) ? "ELF32" : "ELF64";
  if (file.size() < sizeof(Ehdr)) throw Error(fmt::format("kernel: truncated {}: {} bytes", bits, file.size()));
  auto eh = read_at<Ehdr>(file, 0);
  if (eh.e_ident[5] != kElfData2Lsb) throw Error(fmt::format("kernel: multiboot {} is not little-endian", bits));
  if (eh.e_machine != machine)
    throw Error(fmt::format("kernel: multiboot {} has machine {} (want {})", bits, eh.e_machine, machine));
  if (eh.e_phentsize != sizeof(Phdr))
    throw Error(fmt::format("kernel: {} e_phentsize {} (want {})", bits, eh.e_phentsize, sizeof(Phdr)));
  if (eh.e_phnum == 0 || eh.e_phnum > kMaxPhnum)
    throw Error(fmt::format("kernel: {} has {} program headers (want 1..{})", bits, eh.e_phnum, kMaxPhnum));
  if (!in_bounds(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Phdr), file.size()))
    throw Error(fmt::format("kernel: truncated {}: program headers at {:#x} run past the {}-byte file", bits,
                            uint64_t{eh.e_phoff}, file.size()));
  // The entry is a virtual address (e_entry); a kernel linked high has its
  // segments at p_paddr != p_vaddr, so translate through the segment that
  // holds it, as GRUB does. Paging is off at entry: it must be physical then.
  std::optional<uint64_t> entry;
  img.load_start = UINT64_MAX;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Phdr>(file, eh.e_phoff + uint64_t{i} * sizeof(Phdr));
    if (ph.p_type != kPtLoad || (ph.p_memsz == 0 && ph.p_filesz == 0)) continue;
    if (!in_bounds(ph.p_offset, ph.p_filesz, file.size()))
      throw Error(fmt::format("kernel: truncated {}: segment {} at {:#x}+{:#x} runs past the {}-byte file", bits, i,
                              uint64_t{ph.p_offset}, uint64_t{ph.p_filesz}, file.size()));
    if (ph.p_filesz > ph.p_memsz)
      throw Error(fmt::format("kernel: {} segment {} has p_filesz {:#x} > p_memsz {:#x}", bits, i,
                              uint64_t{ph.p_filesz}, uint64_t{ph.p_memsz}));
    check_placement(fmt::format("{} segment {}", bits, i).c_str(), ph.p_paddr, ph.p_memsz, low_ram_end);
    img.segments.push_back({ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz});
    img.load_start = std::min<uint64_t>(img.load_start, ph.p_paddr);
    img.load_end = std::max<uint64_t>(img.load_end, uint64_t{ph.p_paddr} + ph.p_memsz);
    uint64_t e = eh.e_entry;
    if (!entry && e >= ph.p_vaddr && e - ph.p_vaddr < ph.p_filesz) entry = ph.p_paddr + (e - ph.p_vaddr);
  }
  if (img.segments.empty()) throw Error(fmt::format("kernel: multiboot {} has no PT_LOAD segment", bits));
  if (!entry)
    throw Error(fmt::format("kernel: multiboot {} entry {:#x} is outside the loaded image (no PT_LOAD file bytes "
                            "hold it)",
                            bits, uint64_t{eh.e_entry}));
  img.entry = static_cast<uint32_t>(*entry);  // below low_ram_end <= 3 GiB (check_placement)
}

// Section 3.1.3, flag bit 16: the image is loaded from the file offset that
// puts the header at header_addr, from load_addr to load_end_addr (0: to
// the end of the file), and zeroed up to bss_end_addr (0: no bss).
void parse_address_fields(std::span<const uint8_t> file, uint64_t low_ram_end, MultibootImage& img) {
  if (!in_bounds(img.header_offset, sizeof(MultibootHeader), file.size()))
    throw Error(fmt::format("kernel: truncated: the multiboot header at {:#x} has the address flag (bit 16) but "
                            "its address fields run past the {}-byte file",
                            img.header_offset, file.size()));
  auto h = read_at<MultibootHeader>(file, img.header_offset);
  if (h.header_addr < h.load_addr)
    throw Error(fmt::format("kernel: multiboot header_addr {:#x} is below load_addr {:#x}", h.header_addr,
                            h.load_addr));
  uint64_t header_in_image = h.header_addr - h.load_addr;
  if (header_in_image > img.header_offset)
    throw Error(fmt::format("kernel: multiboot header_addr - load_addr = {:#x} exceeds the header's file offset "
                            "{:#x}",
                            header_in_image, img.header_offset));
  uint64_t text_offset = img.header_offset - header_in_image;
  uint64_t load_size = file.size() - text_offset;
  if (h.load_end_addr != 0) {
    if (h.load_end_addr < h.load_addr)
      throw Error(fmt::format("kernel: multiboot load_end_addr {:#x} is below load_addr {:#x}", h.load_end_addr,
                              h.load_addr));
    load_size = h.load_end_addr - h.load_addr;
    if (!in_bounds(text_offset, load_size, file.size()))
      throw Error(fmt::format("kernel: truncated: multiboot load_addr..load_end_addr ({:#x} bytes from file offset "
                              "{:#x}) runs past the {}-byte file",
                              load_size, text_offset, file.size()));
  }
  uint64_t mem_size = load_size;
  if (h.bss_end_addr != 0) {
    if (uint64_t{h.bss_end_addr} < h.load_addr + load_size)
      throw Error(fmt::format("kernel: multiboot bss_end_addr {:#x} is below the end of the loaded image {:#x}",
                              h.bss_end_addr, h.load_addr + load_size));
    mem_size = h.bss_end_addr - h.load_addr;
  }
  check_placement("image", h.load_addr, mem_size, low_ram_end);
  if (h.entry_addr < h.load_addr || h.entry_addr - h.load_addr >= load_size)
    throw Error(fmt::format("kernel: multiboot entry_addr {:#x} is outside the loaded image [{:#x}, {:#x})",
                            h.entry_addr, h.load_addr, h.load_addr + load_size));
  img.segments.push_back({text_offset, h.load_addr, load_size, mem_size});
  img.load_start = h.load_addr;
  img.load_end = h.load_addr + mem_size;
  img.entry = h.entry_addr;
}

}  // namespace

MultibootScan scan_multiboot_header(std::span<const uint8_t> file) {
  MultibootScan s;
  uint64_t limit = std::min<uint64_t>(file.size(), kMultibootSearchBytes);
  for (uint64_t off = 0; off + kMbHeaderBaseBytes <= limit; off += 4) {
    if (read_at<uint32_t>(file, off) != kMultibootHeaderMagic) continue;
    uint32_t flags = read_at<uint32_t>(file, off + 4), checksum = read_at<uint32_t>(file, off + 8);
    if (static_cast<uint32_t>(kMultibootHeaderMagic + flags + checksum) == 0) {
      s.header_offset = off;
      return s;
    }
    if (!s.bad_checksum_offset) s.bad_checksum_offset = off;
  }
  return s;
}

MultibootImage parse_multiboot(std::span<const uint8_t> file, uint64_t low_ram_end) {
  MultibootScan scan = scan_multiboot_header(file);
  if (!scan.header_offset) {
    if (scan.bad_checksum_offset)
      throw Error(fmt::format("kernel: the multiboot magic at {:#x} has a bad checksum (magic + flags + checksum "
                              "must be 0 mod 2^32)",
                              *scan.bad_checksum_offset));
    throw Error("kernel: no multiboot header (magic 0x1BADB002) in the first 8192 bytes");
  }
  MultibootImage img;
  img.header_offset = *scan.header_offset;
  img.flags = read_at<uint32_t>(file, img.header_offset + 4);
  uint32_t unknown = img.flags & kMbHeaderRequiredMask & ~kMbHeaderUnderstood;
  if (unknown)
    throw Error(fmt::format("kernel: the multiboot header requires features amber does not know (flags {:#x}, "
                            "bits {:#x}; amber knows bits 0-2)",
                            img.flags, unknown));
  if (img.flags & kMbHeaderAddressFields) {
    img.form = MultibootImage::Form::kAddressFields;
    parse_address_fields(file, low_ram_end, img);
    return img;
  }
  // 3.1.3: without the address fields the image must be ELF.
  if (file.size() < 16 || std::memcmp(file.data(), kElfMagic, sizeof kElfMagic) != 0)
    throw Error("kernel: the multiboot header has no address fields (flag bit 16) and the file is not ELF: "
                "amber cannot tell where to load it");
  if (file[4] == kElfClass32) {
    img.form = MultibootImage::Form::kElf32;
    parse_elf<Elf32Ehdr, Elf32Phdr>(file, low_ram_end, kEm386, img);
  } else if (file[4] == kElfClass64) {
    img.form = MultibootImage::Form::kElf64;
    parse_elf<Elf64Ehdr, Elf64Phdr>(file, low_ram_end, kEmX86_64, img);
  } else {
    throw Error(fmt::format("kernel: multiboot ELF has class {} (want 1, ELF32, or 2, ELF64)", file[4]));
  }
  return img;
}

}  // namespace amber::x86
