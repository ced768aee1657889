#pragma once
// A device as the VMM sees it: reads and writes at an offset inside its
// window, and a save/restore pair. Devices never see KVM (design-notes §1).
//
// Threading: read()/write() are called from vCPU threads, possibly several
// at once, and must not throw: a device locks its own state. save()/restore()
// are called only while every vCPU is paused.
#include <cstdint>
#include <span>
#include <string_view>

#include "amber/state.h"

namespace amber {

class Device {
 public:
  virtual ~Device() = default;

  // Stable name used as the device's node in the image ("uart0", "virtio-blk@0").
  virtual std::string_view name() const = 0;

  // `offset` is relative to the start of the window the device was inserted at.
  virtual void read(uint64_t offset, std::span<uint8_t> data) noexcept = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) noexcept = 0;

  // Pure virtual so a device that forgets its state does not compile.
  virtual StateNode save() const = 0;
  // Throws Error when the node is invalid; the device is unchanged then.
  virtual void restore(const StateNode& node) = 0;
};

}  // namespace amber
