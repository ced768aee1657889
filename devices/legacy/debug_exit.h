#pragma once
// QEMU's isa-debug-exit (hw/misc/debugexit.c) for `amber run --debug-exit`:
// a guest write of V anywhere in the device's window ends the VMM with exit
// status (V << 1) | 1, so a test kernel written for
// `-device isa-debug-exit,iobase=0xf4,iosize=0x04` reports its result the
// same way under amber. The value is the 1-, 2- or 4-byte write,
// little-endian; reads return 0, as QEMU's do. Stateless.
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "amber/device.h"

namespace amber::dev {

class DebugExit final : public Device {
 public:
  // `on_exit` gets the process exit status for the written value.
  explicit DebugExit(std::function<void(int status)> on_exit) : on_exit_(std::move(on_exit)) {}

  // ((value & 0xff) << 1) | 1: 9 bits, so that the written byte can be
  // taken back from it (amber exec reports its command's status 0..255 this
  // way). As a process exit status only its low 8 bits count, which are those
  // of QEMU's (value << 1) | 1 (RunOutcome::exit_status() keeps them).
  static int exit_status(uint32_t value) { return int(((value & 0xff) << 1) | 1); }

  std::string_view name() const override { return "debug-exit"; }
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}

 private:
  std::function<void(int)> on_exit_;
};

}  // namespace amber::dev
