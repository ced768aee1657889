#pragma once
// The Multiboot (version 1) structures, written from the Multiboot
// Specification 0.6.96: section 3.1 (the OS image header), 3.2 (machine
// state) and 3.3 (the boot information). All fields are little-endian
// 32-bit words (the mmap entries hold 64-bit ones at 4-byte alignment).
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

// 3.1.1: the header lies within the first 8192 bytes of the image, 32-bit
// aligned; 3.1.2: magic, flags and checksum sum to zero (mod 2^32).
inline constexpr uint32_t kMultibootHeaderMagic = 0x1BADB002;
inline constexpr uint64_t kMultibootSearchBytes = 8192;
// 3.2: EAX holds this at entry, telling the OS a Multiboot loader started it.
inline constexpr uint32_t kMultibootBootloaderMagic = 0x2BADB002;

// 3.1.2 header flags. Bits 0-15 are requirements: a loader that does not
// understand one must refuse the image. amber understands 0 (page-aligned
// modules: it always aligns them), 1 (memory information: always given) and
// 2 (video mode information: accepted and not provided, as QEMU does, since
// amber has no display). Bits 16-31 are optional features; 16 says the
// header's address fields are valid.
inline constexpr uint32_t kMbHeaderPageAlign = 1u << 0;
inline constexpr uint32_t kMbHeaderMemoryInfo = 1u << 1;
inline constexpr uint32_t kMbHeaderVideoMode = 1u << 2;
inline constexpr uint32_t kMbHeaderRequiredMask = 0x0000ffff;
inline constexpr uint32_t kMbHeaderUnderstood = kMbHeaderPageAlign | kMbHeaderMemoryInfo | kMbHeaderVideoMode;
inline constexpr uint32_t kMbHeaderAddressFields = 1u << 16;

// 3.1.1 "The layout of the Multiboot header". The address fields (offsets
// 12-28) are only valid with kMbHeaderAddressFields; the video fields are
// not read.
struct MultibootHeader {
  uint32_t magic;
  uint32_t flags;
  uint32_t checksum;
  uint32_t header_addr;    // physical address the magic is loaded at
  uint32_t load_addr;      // physical address of the text segment's start
  uint32_t load_end_addr;  // end of the data segment; 0: the rest of the file
  uint32_t bss_end_addr;   // end of the bss, zeroed by the loader; 0: no bss
  uint32_t entry_addr;     // physical entry point
};
inline constexpr uint64_t kMbHeaderBaseBytes = 12;  // magic, flags, checksum

// 3.3 boot information flags: which fields of MultibootInfo are valid.
inline constexpr uint32_t kMbInfoMemory = 1u << 0;       // mem_lower, mem_upper
inline constexpr uint32_t kMbInfoBootDevice = 1u << 1;   // boot_device (not given: no BIOS disk)
inline constexpr uint32_t kMbInfoCmdline = 1u << 2;      // cmdline
inline constexpr uint32_t kMbInfoMods = 1u << 3;         // mods_count, mods_addr
inline constexpr uint32_t kMbInfoMmap = 1u << 6;         // mmap_length, mmap_addr
inline constexpr uint32_t kMbInfoBootLoaderName = 1u << 9;

// 3.3 "Boot information format", up to and including the VBE fields
// (offset 88); amber sets no flag past bit 9, so the framebuffer fields of
// later spec versions are not part of it.
struct MultibootInfo {
  uint32_t flags;
  uint32_t mem_lower;   // KiB of RAM from 0 (at most 640)
  uint32_t mem_upper;   // KiB of RAM from 1 MiB to the first hole
  uint32_t boot_device;
  uint32_t cmdline;     // physical address of a NUL-terminated string
  uint32_t mods_count;
  uint32_t mods_addr;   // physical address of MultibootModule[mods_count]
  uint32_t syms[4];
  uint32_t mmap_length; // bytes of MultibootMmapEntry records
  uint32_t mmap_addr;
  uint32_t drives_length;
  uint32_t drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
  uint32_t vbe_control_info;
  uint32_t vbe_mode_info;
  uint16_t vbe_mode;
  uint16_t vbe_interface_seg;
  uint16_t vbe_interface_off;
  uint16_t vbe_interface_len;
};

// 3.3 "the module structure": [mod_start, mod_end) and its string.
struct MultibootModule {
  uint32_t mod_start;
  uint32_t mod_end;
  uint32_t string;
  uint32_t reserved;
};

// 3.3 "the memory map": `size` is the entry's size without the size field
// itself (20 here); base_addr and length are 64-bit; type 1 is available
// RAM, anything else reserved (the e820 types; ACPI 6.4 table 15.1).
#pragma pack(push, 4)
struct MultibootMmapEntry {
  uint32_t size;
  uint64_t base_addr;
  uint64_t length;
  uint32_t type;
};
#pragma pack(pop)

static_assert(sizeof(MultibootHeader) == 32);
static_assert(offsetof(MultibootInfo, cmdline) == 16);
static_assert(offsetof(MultibootInfo, mods_addr) == 24);
static_assert(offsetof(MultibootInfo, mmap_length) == 44);
static_assert(offsetof(MultibootInfo, mmap_addr) == 48);
static_assert(offsetof(MultibootInfo, boot_loader_name) == 64);
static_assert(sizeof(MultibootInfo) == 88);
static_assert(sizeof(MultibootModule) == 16);
static_assert(sizeof(MultibootMmapEntry) == 24);
static_assert(offsetof(MultibootMmapEntry, base_addr) == 4);

}  // namespace amber::x86
