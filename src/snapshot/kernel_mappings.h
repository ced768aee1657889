#pragma once
// The guest kernel's virtual mappings, read from a saved vCPU's page
// tables, so that `amber dump` can give gdb PT_LOADs at kernel virtual
// addresses (`gdb vmlinux vm.core`: symbols resolve) as QEMU's
// dump-guest-memory does with paging. The tables are untrusted image
// contents: the walk is bounded in tables visited and runs returned.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace amber::image {

struct VirtualRun {
  uint64_t vaddr, paddr, size;
  bool operator==(const VirtualRun&) const = default;
};

// Reads `len` bytes of guest-physical memory; false when not RAM.
using PhysRead = std::function<bool(uint64_t gpa, void* out, size_t len)>;

struct KernelMappingLimits {
  size_t max_tables = 1 << 16;  // page-table pages read
  size_t max_runs = 1 << 14;
};

// The present mappings of the upper (kernel) half of a long-mode address
// space with 4-level (or, with `la57`, 5-level) paging at `cr3`, in
// ascending virtual order, merged into runs contiguous both virtually and
// physically. Entries pointing outside RAM end their branch.
std::vector<VirtualRun> kernel_mappings(uint64_t cr3, bool la57, const PhysRead& read,
                                        const KernelMappingLimits& limits = {});

}  // namespace amber::image
