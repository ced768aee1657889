#pragma once
// kvm_run -> hv::VcpuExit (api.rst 5 "The kvm_run structure"). A pure
// function over the mapped kvm_run so it is tested with hand-filled structs.
#include <linux/kvm.h>

#include <cstddef>

#include "hv/hypervisor.h"

namespace amber::kvm {

// Decodes the exit KVM_RUN just returned. IoIn/MmioRead spans point into
// `run` (the PIO data page / run->mmio.data), which is `mmap_size` bytes;
// the VMM fills them before the next KVM_RUN. A malformed exit (offset out
// of the mapping, bad size) becomes InternalError, never an out-of-bounds span.
hv::VcpuExit decode_exit(kvm_run& run, size_t mmap_size);

// True for exits that KVM completes only on the next KVM_RUN (api.rst 5:
// "the corresponding operations are complete ... only after userspace has
// re-entered the kernel with KVM_RUN").
bool exit_needs_completion(const kvm_run& run) noexcept;

}  // namespace amber::kvm
