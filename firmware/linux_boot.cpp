#include "firmware/linux_boot.h"

#include <algorithm>
#include <cstring>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_helpers.h"
#include "firmware/memory_map.h"
#include "firmware/page_tables.h"

namespace amber::x86 {
namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kJumpOffsetByte = 0x201;   // boot.rst: header end = 0x202 + byte at 0x201
constexpr uint64_t kEntry64Offset = 0x200;    // boot.rst "64-bit BOOT PROTOCOL"
constexpr uint64_t kHdr206End = offsetof(SetupHeader, cmdline_size) + sizeof(uint32_t) + kSetupHeaderOffset;

std::string protocol_str(uint16_t v) { return fmt::format("{}.{:02}", v >> 8, v & 0xff); }

bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

BzImageInfo parse_bzimage(std::span<const uint8_t> file) {
  // The first two sectors always hold the boot sector and the setup header;
  // the setup code that follows is at least 4 sectors.
  if (file.size() < kHdr206End)
    throw Error(fmt::format("kernel: truncated: {} bytes is too small for a bzImage setup header", file.size()));
  BzImageInfo info;
  uint32_t magic;
  std::memcpy(&magic, file.data() + offsetof(SetupHeader, header) + kSetupHeaderOffset, sizeof magic);
  if (magic != kHdrSMagic) throw Error("kernel: not a bzImage or PVH ELF (no \"HdrS\" magic at 0x202)");

  // Copy only the header the kernel declares; later fields would be setup
  // code bytes that happen to sit at those offsets.
  uint64_t hdr_end = std::min<uint64_t>(0x202 + file[kJumpOffsetByte], kSetupHeaderOffset + sizeof(SetupHeader));
  hdr_end = std::min<uint64_t>(hdr_end, file.size());
  std::memcpy(&info.hdr, file.data() + kSetupHeaderOffset, hdr_end - kSetupHeaderOffset);
  const SetupHeader& h = info.hdr;

  uint16_t version;  // read from the file: a short header may not reach it
  std::memcpy(&version, file.data() + offsetof(SetupHeader, version) + kSetupHeaderOffset, sizeof version);
  if (version < kMinBootProtocol)
    throw Error(fmt::format("kernel: boot protocol {} is too old (need {}+)", protocol_str(version),
                            protocol_str(kMinBootProtocol)));
  if (hdr_end < kHdr206End)
    throw Error(fmt::format("kernel: setup header ends at {:#x}, too short for protocol {}", hdr_end,
                            protocol_str(h.version)));
  if (!(h.loadflags & kLoadedHigh))
    throw Error("kernel: not a bzImage (loadflags LOADED_HIGH clear: a zImage loads at 0x10000)");
  if (h.version < kKernel64Protocol || !(h.xloadflags & kXlfKernel64))
    throw Error(fmt::format("kernel: protocol {} kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64)",
                            protocol_str(h.version)));

  // boot.rst: "If this field is 0, the real value is 4."
  uint64_t sects = h.setup_sects == 0 ? 4 : h.setup_sects;
  info.setup_bytes = (sects + 1) * kSectorSize;
  // syssize counts 16-byte paragraphs of the protected-mode part; the
  // kernel's build tool rounds it up, so allow the last paragraph partial.
  uint64_t declared = info.setup_bytes + uint64_t{h.syssize} * 16;
  if (info.setup_bytes >= file.size() || declared > file.size() + 15)
    throw Error(fmt::format("kernel: truncated: setup says {} bytes, file has {}", declared, file.size()));
  info.kernel_bytes = file.size() - info.setup_bytes;
  if (h.syssize == 0) throw Error("kernel: setup header declares an empty protected-mode kernel (syssize 0)");

  if (h.version >= 0x0208 && uint64_t{h.payload_offset} + h.payload_length > info.kernel_bytes)
    throw Error(fmt::format("kernel: payload {:#x}+{:#x} runs past the {}-byte protected-mode kernel",
                            uint32_t{h.payload_offset}, uint32_t{h.payload_length}, info.kernel_bytes));
  if (h.relocatable_kernel && !is_pow2(h.kernel_alignment))
    throw Error(fmt::format("kernel: kernel_alignment {:#x} is not a power of two", uint32_t{h.kernel_alignment}));
  return info;
}

uint64_t bzimage_footprint_end(const BzImageInfo& info) {
  const SetupHeader& h = info.hdr;
  uint64_t load = layout::kHighMemStart;
  uint64_t end = load + info.kernel_bytes;
  if (h.version < 0x020a) return end;  // no init_size/pref_address before 2.10
  // arch/x86/boot/compressed/head_64.S: a relocatable kernel decompresses
  // at max(load address aligned up to kernel_alignment, LOAD_PHYSICAL_ADDR
  // = pref_address); a fixed one at pref_address.
  // Copies: std::max must not bind references to packed (misaligned) fields.
  const uint64_t pref = h.pref_address, init_size = h.init_size;
  uint64_t start = pref;
  if (h.relocatable_kernel) {
    uint64_t align = h.kernel_alignment;  // a power of two (parse_bzimage)
    start = std::max((load + align - 1) & ~(align - 1), pref);
  }
  // Saturate: a hostile pref_address must not wrap around.
  uint64_t runtime_end = start > UINT64_MAX - init_size ? UINT64_MAX : start + init_size;
  return std::max(end, runtime_end);
}

BootResult load_bzimage(const GuestMemory& mem, std::span<const uint8_t> file, std::span<const uint8_t> initrd,
                        const std::string& cmdline, uint64_t mem_bytes) {
  BzImageInfo info = parse_bzimage(file);
  uint64_t low_end = low_ram_end(mem_bytes);
  uint64_t kernel_end = bzimage_footprint_end(info);
  if (kernel_end > low_end)
    throw Error(fmt::format("kernel: needs guest RAM up to {:#x} (init_size {:#x}), but RAM below 4 GiB ends at {:#x}",
                            kernel_end, uint32_t{info.hdr.init_size}, low_end));

  mem.write(layout::kHighMemStart, file.subspan(info.setup_bytes));
  write_cmdline(mem, cmdline, info.hdr.cmdline_size);
  // boot.rst: initrd_addr_max is "the highest address that may be occupied".
  uint64_t initrd_top = std::min<uint64_t>(uint64_t{info.hdr.initrd_addr_max} + 1, low_end);
  uint64_t initrd_addr = place_initrd(mem, initrd, kernel_end, initrd_top);

  BootParams bp{};
  bp.hdr = info.hdr;
  bp.hdr.type_of_loader = kLoaderTypeUndefined;
  bp.hdr.loadflags |= kCanUseHeap;
  bp.hdr.loadflags &= static_cast<uint8_t>(~kKeepSegments);
  bp.hdr.heap_end_ptr = kHeapEndPtr;
  bp.hdr.cmd_line_ptr = static_cast<uint32_t>(layout::kCmdlineAddr);
  bp.hdr.ramdisk_image = static_cast<uint32_t>(initrd_addr);
  bp.hdr.ramdisk_size = static_cast<uint32_t>(initrd.size());
  bp.ext_ramdisk_image = static_cast<uint32_t>(initrd_addr >> 32);
  bp.ext_ramdisk_size = static_cast<uint32_t>(uint64_t{initrd.size()} >> 32);
  bp.hdr.setup_data = 0;  // never follow a pointer that came from the file
  auto map = memory_map(mem_bytes);
  for (const MemoryMapEntry& e : map) bp.e820_table[bp.e820_entries++] = {e.addr, e.size, e.type};
  if (!mem.write_obj(layout::kZeroPage, bp)) throw Error("zero page is outside guest RAM");

  write_gdt_idt(mem);
  write_identity_page_tables(mem);

  BootResult r;
  uint64_t entry = layout::kHighMemStart + kEntry64Offset;
  r.cpu = long_mode_state(entry);
  r.cpu.rsi = layout::kZeroPage;  // boot.rst: "%rsi must hold the base address of the struct boot_params"
  r.kernel_end = kernel_end;
  r.initrd_addr = initrd_addr;
  r.initrd_size = initrd.size();
  r.description = fmt::format("bzImage, boot protocol {}, 64-bit entry {:#x}, kernel {} at {:#x} (footprint to {:#x})",
                              protocol_str(info.hdr.version), entry, human_size(info.kernel_bytes),
                              layout::kHighMemStart, kernel_end);
  r.description += initrd.empty() ? ", no initrd" : fmt::format(", initrd {} at {:#x}", human_size(initrd.size()), initrd_addr);
  return r;
}

}  // namespace amber::x86
