#pragma once
// Steps both boot paths share: command line and initrd placement, and the
// common boot data (GDT, IDT, page tables).
#include <cstdint>
#include <span>
#include <string>

#include "amber/guest_memory.h"

namespace amber::x86 {

// Writes `cmdline` and its terminating NUL at layout::kCmdlineAddr. Throws
// Error when it is longer than max_len bytes (NUL excluded) or contains a NUL.
void write_cmdline(const GuestMemory& mem, const std::string& cmdline, uint64_t max_len);

// Copies `initrd` to the highest page-aligned address whose end is <= top
// and whose start is >= bottom; returns that address. Throws Error when it
// does not fit. An empty initrd is not placed (returns 0).
uint64_t place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd, uint64_t bottom, uint64_t top);

// Bytes as "N bytes" / "N KiB" / "N MiB" for log lines.
std::string human_size(uint64_t bytes);

}  // namespace amber::x86
