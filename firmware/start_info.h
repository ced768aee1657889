#pragma once
// The PVH boot ABI's start-of-day structures, written from Xen's
// xen/include/public/arch-x86/hvm/start_info.h (version 1). All fields are
// little-endian and naturally aligned; the structures have no padding.
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;  // "xEn3" with 0x80 bit of the "E" set
inline constexpr uint32_t kHvmStartInfoVersion = 1;      // has memmap_paddr/memmap_entries

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;            // SIF_xxx; 0 for an HVM/PVH guest started by a VMM
  uint32_t nr_modules;
  uint64_t modlist_paddr;    // array of HvmModlistEntry
  uint64_t cmdline_paddr;    // NUL-terminated ASCII
  uint64_t rsdp_paddr;       // 0: no ACPI
  uint64_t memmap_paddr;     // version 1+: array of HvmMemmapEntry
  uint32_t memmap_entries;
  uint32_t reserved;
};

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // e820 types: 1 RAM, 2 reserved
  uint32_t reserved;
};

static_assert(sizeof(HvmStartInfo) == 56);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(offsetof(HvmStartInfo, cmdline_paddr) == 24);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 48);
static_assert(sizeof(HvmModlistEntry) == 32);
static_assert(sizeof(HvmMemmapEntry) == 24);

}  // namespace amber::x86
