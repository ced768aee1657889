#pragma once
// The PC CMOS RTC and NVRAM (an MC146818 at ports 0x70/0x71): 128 bytes
// addressed through an index register, the time of day read from the host
// clock, and the BIOS memory-size bytes. No RTC interrupts (IRQ 8) are
// raised: register C reads 0 and the interrupt enable bits in register B
// are stored but inert (the guest kernel reads the time with
// mc146818_get_time() and has no rtc-cmos driver).
//
// References: Motorola MC146818A datasheet (cited as "MC146818A, <register>");
// Linux drivers/rtc/rtc-mc146818-lib.c; QEMU hw/rtc/mc146818rtc.c and
// hw/i386/pc.c for the memory-size bytes.
#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "amber/device.h"
#include "amber/log.h"
#include "amber/state.h"

namespace amber::dev {

struct CmosState {
  // The whole address space. The time registers (0x00-0x09, 0x32) hold the
  // time frozen by register B's SET bit; otherwise they are computed on read.
  std::array<uint8_t, 128> nvram{};
  uint8_t index = 0;   // last byte written to port 0x70 (bit 7: NMI disable)
  int64_t offset = 0;  // seconds the guest's clock is ahead of the host's

  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("nvram", s.nvram)("index", s.index)("offset", s.offset);
  }
  bool operator==(const CmosState&) const = default;
};

class Cmos : public Device {
 public:
  using Clock = std::function<time_t()>;
  static constexpr uint64_t kWindowSize = 2;  // 0x70 index, 0x71 data
  // Largest |offset| restore accepts: the RTC's own range (years 0-9999) is
  // far inside it, and it keeps clock arithmetic far from overflow.
  static constexpr int64_t kMaxOffset = int64_t(1) << 40;

  // `now` is the host wall clock (UTC); injectable for tests.
  explicit Cmos(Clock now = [] { return ::time(nullptr); }, std::string name = "cmos");

  std::string_view name() const override { return name_; }
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;

  StateNode save() const override;
  void restore(const StateNode& node) override;

  // Fills the BIOS memory-size bytes from the guest's RAM below and above
  // 4 GiB (bytes): 0x15/0x16 base KiB, 0x17/0x18 and 0x30/0x31 KiB above
  // 1 MiB, 0x34/0x35 64 KiB units above 16 MiB, 0x5b-0x5d 64 KiB units above
  // 4 GiB. Each saturates at its field's maximum.
  void set_memory_size(uint64_t below_4g, uint64_t above_4g);

  CmosState state() const;
  // The guest's current wall clock (host clock + offset), for tests and logs.
  int64_t guest_time() const;

 private:
  uint8_t read_reg(uint8_t reg);
  void write_reg(uint8_t reg, uint8_t v);
  // Writes the current guest time into the time registers.
  void latch_time();
  // Sets the offset from the time registers (after a guest write).
  void commit_time();

  std::string name_;
  Clock now_;
  mutable std::mutex mu_;
  CmosState s_;
  log::RateLimit warn_limit_;
};

}  // namespace amber::dev
