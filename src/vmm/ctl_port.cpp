#include "vmm/ctl_port.h"

#include <cstring>

namespace amber::vmm {

void CtlPort::read(uint64_t offset, std::span<uint8_t> data) noexcept {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t o = offset + i;
    data[i] = o < 4 ? uint8_t(kMagic >> (8 * o)) : 0xff;  // little-endian, like an `in %dx, %eax`
  }
}

void CtlPort::write(uint64_t offset, std::span<const uint8_t> data) noexcept {
  uint32_t v = 0;
  if (offset == 0 && data.size() == 4) std::memcpy(&v, data.data(), 4);  // guest-controlled
  if (v != kSaveRequest) {
    log::guest_warn(warn_limit_, "amber-ctl: ignoring a {}-byte write of {:#x} at offset {} (want a 32-bit {:#x})",
                    data.size(), v, offset, kSaveRequest);
    return;
  }
  try {
    if (on_save_) on_save_();
  } catch (...) {
    // Host-side failure while queueing the request; the guest's write must
    // not unwind into the vCPU loop.
  }
}

}  // namespace amber::vmm
