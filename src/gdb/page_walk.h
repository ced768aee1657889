#pragma once
// Guest virtual -> guest physical address, by walking the guest's page
// tables the way the MMU does (Intel SDM vol. 3A ch. 4 "Paging": 32-bit,
// PAE, 4-level and 5-level paging), from the registers the debugger read.
// A software walk rather than KVM_TRANSLATE: it works from saved state too
// and is unit-tested against hand-built tables.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "hv/debug_regs.h"

namespace amber::gdb {

// Reads `len` bytes of guest physical memory; false when not RAM.
using PhysReader = std::function<bool(uint64_t gpa, void* out, size_t len)>;

// The physical address of `vaddr`, or nullopt when a level is not present
// or not RAM. Paging off: the address itself.
std::optional<uint64_t> translate(const hv::DebugRegs& regs, uint64_t vaddr, const PhysReader& read);

}  // namespace amber::gdb
