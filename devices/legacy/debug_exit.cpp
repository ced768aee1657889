#include "legacy/debug_exit.h"

#include <algorithm>

namespace amber::dev {

void DebugExit::read(uint64_t /*offset*/, std::span<uint8_t> data) noexcept {
  std::fill(data.begin(), data.end(), uint8_t(0));
}

void DebugExit::write(uint64_t /*offset*/, std::span<const uint8_t> data) noexcept {
  uint32_t v = 0;
  for (size_t i = 0; i < data.size() && i < 4; ++i) v |= uint32_t(data[i]) << (8 * i);
  try {
    if (on_exit_) on_exit_(exit_status(v));
  } catch (...) {
    // Host-side failure while queueing the stop; the guest's write must not
    // unwind into the vCPU loop.
  }
}

}  // namespace amber::dev
