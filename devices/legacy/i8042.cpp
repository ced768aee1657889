#include "i8042.h"

#include <algorithm>
#include <utility>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::dev {
namespace {

// Status register bits (8042 ref, "Status Register").
constexpr uint8_t kStatusOutputFull = 0x01;
// Bit 1, input buffer full, is never set: the controller consumes every
// write at once. Linux's keyboard reboot polls it before writing 0xfe.
constexpr uint8_t kStatusSystem = 0x04;
constexpr uint8_t kStatusCommand = 0x08;
constexpr uint8_t kStatusUnlocked = 0x10;  // keyboard not inhibited by the key lock
constexpr uint8_t kStatusAuxOutput = 0x20;

// Command byte bits (8042 ref, "Command Byte").
constexpr uint8_t kCbSystem = 0x04;
constexpr uint8_t kCbKbdDisable = 0x10;
constexpr uint8_t kCbAuxDisable = 0x20;

constexpr uint8_t kOutResetLine = 0x01;  // output port bit 0: 0 resets the CPU

// Controller commands (8042 ref, "Commands (I/O Address Hex 64)").
constexpr uint8_t kCmdReadCommandByte = 0x20;
constexpr uint8_t kCmdWriteCommandByte = 0x60;
constexpr uint8_t kCmdDisableAux = 0xa7;
constexpr uint8_t kCmdEnableAux = 0xa8;
constexpr uint8_t kCmdTestAux = 0xa9;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdTestKbd = 0xab;
constexpr uint8_t kCmdDisableKbd = 0xad;
constexpr uint8_t kCmdEnableKbd = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdWriteKbdOutput = 0xd2;
constexpr uint8_t kCmdWriteAuxOutput = 0xd3;
constexpr uint8_t kCmdWriteAux = 0xd4;
constexpr uint8_t kCmdPulseBase = 0xf0;  // 0xf0-0xff: pulse output port bits 0-3 that are 0 in the low nibble

constexpr uint8_t kSelfTestOk = 0x55;
constexpr uint8_t kInterfaceTestOk = 0x00;

bool takes_data(uint8_t cmd) {
  return cmd == kCmdWriteCommandByte || cmd == kCmdWriteOutputPort || cmd == kCmdWriteKbdOutput ||
         cmd == kCmdWriteAuxOutput || cmd == kCmdWriteAux;
}

}  // namespace

I8042::I8042(std::function<void()> on_reset, std::string name)
    : name_(std::move(name)), on_reset_(std::move(on_reset)) {}

uint8_t I8042::status_locked() const {
  uint8_t st = kStatusUnlocked;
  if (s_.output_full) st |= kStatusOutputFull;
  if (s_.output_full && s_.output_aux) st |= kStatusAuxOutput;
  if (s_.command_byte & kCbSystem) st |= kStatusSystem;  // the 8042 copies the SYS flag
  if (s_.last_was_command) st |= kStatusCommand;
  return st;
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    switch (offset + i) {
      case kDataOffset:
        if (s_.output_full) {
          data[i] = s_.output;
          s_.output_full = false;
          s_.output_aux = false;
        } else {
          data[i] = 0;  // no keyboard: nothing to read
        }
        break;
      case kCommandOffset:
        data[i] = status_locked();
        break;
      default:
        // 0x61-0x63 are not the 8042's. 0x61 (system control port B) is
        // normally the in-kernel PIT's; if it lands here, 0 keeps the NMI
        // reason bits (7: SERR, 6: IOCHK) clear rather than 0xff.
        data[i] = 0;
        break;
    }
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) noexcept {
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      if (offset + i == kCommandOffset) {
        reset |= write_command(data[i]);
      } else if (offset + i == kDataOffset) {
        reset |= write_data(data[i]);
      }
    }
  }
  if (reset && on_reset_) {
    try {
      on_reset_();
    } catch (...) {
      // Host code; it must not unwind through a noexcept device path.
      log::error("{}: reset handler failed", name_);
    }
  }
}

void I8042::put_output(uint8_t v, bool aux) {
  // One-byte output buffer; a newer reply replaces an unread one.
  s_.output = v;
  s_.output_full = true;
  s_.output_aux = aux;
}

bool I8042::write_command(uint8_t cmd) {
  s_.last_was_command = true;
  s_.pending_command = 0;  // a new command abandons one still waiting for data
  if (takes_data(cmd)) {
    s_.pending_command = cmd;
    return false;
  }
  if (cmd >= kCmdPulseBase) {
    // Pulse the output port bits whose mask bit is 0 (8042 ref); bit 0 is
    // the CPU reset line. 0xfe is the classic keyboard-controller reset.
    return !(cmd & kOutResetLine);
  }
  switch (cmd) {
    case kCmdReadCommandByte:
      put_output(s_.command_byte);
      break;
    case kCmdDisableAux:
      s_.command_byte |= kCbAuxDisable;
      break;
    case kCmdEnableAux:
      s_.command_byte &= uint8_t(~kCbAuxDisable);
      break;
    case kCmdTestAux:
    case kCmdTestKbd:
      put_output(kInterfaceTestOk);  // the lines test fine; no device is behind them
      break;
    case kCmdSelfTest:
      put_output(kSelfTestOk);
      break;
    case kCmdDisableKbd:
      s_.command_byte |= kCbKbdDisable;
      break;
    case kCmdEnableKbd:
      s_.command_byte &= uint8_t(~kCbKbdDisable);
      break;
    case kCmdReadOutputPort:
      put_output(s_.output_port);
      break;
    default:
      if (cmd > kCmdReadCommandByte && cmd < kCmdWriteCommandByte) {
        put_output(0);  // 0x21-0x3f read controller RAM: nothing stored there
      } else if (cmd > kCmdWriteCommandByte && cmd < 0x80) {
        s_.pending_command = cmd;  // 0x61-0x7f write controller RAM: data byte dropped
      } else {
        log::guest_warn(warn_limit_, "{}: ignoring controller command {:#04x}", name_, cmd);
      }
      break;
  }
  return false;
}

bool I8042::write_data(uint8_t v) {
  s_.last_was_command = false;
  uint8_t cmd = std::exchange(s_.pending_command, 0);
  switch (cmd) {
    case 0:
      // A byte for the keyboard: none is attached, so it goes nowhere.
      return false;
    case kCmdWriteCommandByte:
      s_.command_byte = v;
      return false;
    case kCmdWriteOutputPort:
      // Writing the reset bit as 0 resets the CPU (QEMU does the same).
      s_.output_port = v;
      if (!(v & kOutResetLine)) {
        s_.output_port |= kOutResetLine;  // the reset pulse ends with the reset
        return true;
      }
      return false;
    case kCmdWriteKbdOutput:
      put_output(v);
      return false;
    case kCmdWriteAuxOutput:
      put_output(v, /*aux=*/true);
      return false;
    default:
      return false;  // kCmdWriteAux and controller RAM writes: nothing behind them
  }
}

I8042State I8042::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

uint8_t I8042::status() const {
  std::lock_guard lock(mu_);
  return status_locked();
}

StateNode I8042::save() const {
  std::lock_guard lock(mu_);
  return save_state(s_);
}

void I8042::restore(const StateNode& node) {
  I8042State s = load_state<I8042State>(node, name_);
  bool ram_write = s.pending_command > kCmdWriteCommandByte && s.pending_command < 0x80;
  if (s.pending_command != 0 && !takes_data(s.pending_command) && !ram_write)
    throw Error(fmt::format("image: i8042 state is invalid: pending command {:#04x} takes no data", s.pending_command));
  if (s.output_aux && !s.output_full) throw Error("image: i8042 state is invalid: aux flag without output");
  std::lock_guard lock(mu_);
  s_ = s;
}

}  // namespace amber::dev
