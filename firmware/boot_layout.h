#pragma once
// Boot-time constants that only firmware/ needs. Guest addresses are derived
// from include/amber/layout.h so the memory map stays defined in one place.
#include <cstdint>

#include "amber/layout.h"

namespace amber::x86 {

// ---- Guest RAM size limits (memory_map.cpp) --------------------------------
inline constexpr uint64_t kPageSize = 0x1000;
inline constexpr uint64_t kMinMemBytes = 16ull << 20;  // room for boot data + a tiny kernel
inline constexpr uint64_t kMaxMemBytes = 1ull << 40;   // 1 TiB

// ---- e820 / PVH memmap types (ACPI 6.4 table 15.1, same values in both) ----
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

// ---- PVH: hvm_start_info at layout::kPvhStartInfo, then its arrays ---------
// The page 0x6000-0x6fff holds all three; memmap entries are 24 bytes, so
// the page has room for far more entries than memory_map.cpp ever produces.
inline constexpr uint64_t kPvhModlistAddr = layout::kPvhStartInfo + 0x40;
inline constexpr uint64_t kPvhMemmapAddr = layout::kPvhStartInfo + 0x80;
inline constexpr uint64_t kPvhPageEnd = layout::kPvhStartInfo + 0x1000;

// ---- Multiboot: the information structure and what it points to ---------
// [layout::kMultibootInfo, layout::kCmdlineAddr): the MultibootInfo, the
// memory map (room for 32 entries; memory_map() makes at most 4), the
// module list, then the boot loader name and the module strings. The kernel
// command line is at layout::kCmdlineAddr as for Linux. All below 1 MiB, so
// no multiboot kernel (loaded at 1 MiB or above) can overlap them.
inline constexpr uint64_t kMbInfoAddr = layout::kMultibootInfo;
inline constexpr uint64_t kMbMmapAddr = layout::kMultibootInfo + 0x100;
inline constexpr uint64_t kMbModsAddr = layout::kMultibootInfo + 0x400;
inline constexpr uint32_t kMaxMultibootModules = 64;  // 64 x 16 bytes: up to +0x800
inline constexpr uint64_t kMbStringsAddr = layout::kMultibootInfo + 0x800;
inline constexpr uint64_t kMbStringsEnd = layout::kCmdlineAddr;

// ---- MP table --------------------------------------------------------------
inline constexpr uint32_t kMaxCpus = 32;
inline constexpr uint32_t kIoapicPins = 24;  // KVM's in-kernel IOAPIC

}  // namespace amber::x86
