#pragma once
// The i8042 keyboard controller at ports 0x60-0x64, reduced to what a guest
// without a keyboard needs: the reset line (Linux's reboot=k writes 0xfe to
// port 0x64), a status register whose input buffer is always empty (else
// that reboot path stalls ~1.3 s polling it), and the controller commands a
// probing driver sends, answered like an 8042 with no keyboard or mouse
// attached. No keyboard IRQ is raised: every reply here answers a command,
// and drivers poll the status register for those.
//
// References: IBM PS/2 Hardware Interface Technical Reference, "Keyboard/
// Auxiliary Device Controller" (cited as "8042 ref"); Linux
// drivers/input/serio/i8042.c and arch/x86/kernel/reboot.c.
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "amber/device.h"
#include "amber/log.h"
#include "amber/state.h"

namespace amber::dev {

struct I8042State {
  uint8_t command_byte = 0x45;  // kbd IRQ enable, system flag, scancode translation (BIOS POST value)
  uint8_t output_port = 0xcf;   // reset line high (not in reset), A20 on, as QEMU starts
  uint8_t output = 0;           // the output buffer, valid when output_full
  bool output_full = false;
  bool output_aux = false;      // the output byte came from the aux (mouse) side
  bool last_was_command = false;  // status bit 3: the last write went to port 0x64
  uint8_t pending_command = 0;  // a command waiting for its data byte at port 0x60, or 0

  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("command_byte", s.command_byte)("output_port", s.output_port)("output", s.output);
    ar("output_full", s.output_full)("output_aux", s.output_aux)("last_was_command", s.last_was_command);
    ar("pending_command", s.pending_command);
  }
  bool operator==(const I8042State&) const = default;
};

class I8042 : public Device {
 public:
  static constexpr uint64_t kWindowSize = 5;  // 0x60-0x64
  static constexpr uint64_t kDataOffset = 0;
  static constexpr uint64_t kCommandOffset = 4;

  // `on_reset` runs (without the device lock held) when the guest pulses the
  // CPU reset line; the VMM treats it as a guest reboot.
  explicit I8042(std::function<void()> on_reset, std::string name = "i8042");

  std::string_view name() const override { return name_; }
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;

  StateNode save() const override;
  void restore(const StateNode& node) override;

  I8042State state() const;
  uint8_t status() const;

 private:
  uint8_t status_locked() const;
  // Return true when the reset line was pulsed.
  bool write_command(uint8_t cmd);
  bool write_data(uint8_t v);
  void put_output(uint8_t v, bool aux = false);

  std::string name_;
  std::function<void()> on_reset_;
  mutable std::mutex mu_;
  I8042State s_;
  log::RateLimit warn_limit_;
};

}  // namespace amber::dev
