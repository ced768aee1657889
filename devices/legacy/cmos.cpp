#include "cmos.h"

#include <algorithm>
#include <utility>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::dev {
namespace {

// Register indexes (MC146818A, "Address Map"; 0x32 is the PC/AT century byte).
constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06;
constexpr uint8_t kDay = 0x07, kMonth = 0x08, kYear = 0x09, kCentury = 0x32;
constexpr uint8_t kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d;

constexpr uint8_t kAUip = 0x80;          // update in progress: never set, reads never wait
constexpr uint8_t kADefault = 0x26;      // 32.768 kHz time base, 1.024 kHz periodic rate
constexpr uint8_t kBSet = 0x80;          // updates halted while the guest sets the time
constexpr uint8_t kBBinary = 0x04;       // DM: binary instead of BCD
constexpr uint8_t k24Hour = 0x02;
constexpr uint8_t kBDefault = k24Hour;   // 24 h, BCD, no interrupts
constexpr uint8_t kDValid = 0x80;        // VRT: RAM and time are valid
constexpr uint8_t kIndexMask = 0x7f;     // bit 7 of the index port masks NMIs
constexpr uint8_t kPm = 0x80;            // 12 h mode: PM flag in the hour byte

bool is_time_reg(uint8_t r) {
  return r == kSeconds || r == kMinutes || r == kHours || r == kWeekday || r == kDay || r == kMonth ||
         r == kYear || r == kCentury;
}

uint8_t to_bcd(int v) { return uint8_t(((v / 10) % 10) << 4 | (v % 10)); }
int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

}  // namespace

Cmos::Cmos(Clock now, std::string name) : name_(std::move(name)), now_(std::move(now)) {
  s_.nvram[kRegA] = kADefault;
  s_.nvram[kRegB] = kBDefault;
  s_.nvram[kRegD] = kDValid;
  s_.nvram[0x15] = 0x80;  // 640 KiB of base memory (QEMU's default)
  s_.nvram[0x16] = 0x02;
  latch_time();
}

void Cmos::read(uint64_t offset, std::span<uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    // The index port is write-only on hardware; returning the last value
    // written is harmless and lets a guest read back its NMI mask bit.
    uint64_t port = offset + i;
    data[i] = port == 0 ? s_.index : port == 1 ? read_reg(s_.index & kIndexMask) : 0xff;
  }
}

void Cmos::write(uint64_t offset, std::span<const uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i == 0) {
      s_.index = data[i];
    } else if (offset + i == 1) {
      write_reg(s_.index & kIndexMask, data[i]);
    }
  }
}

uint8_t Cmos::read_reg(uint8_t reg) {
  switch (reg) {
    case kRegA:
      return s_.nvram[kRegA] & uint8_t(~kAUip);
    case kRegC:
      return 0;  // no interrupt flags: none are ever raised
    case kRegD:
      return kDValid;
    default:
      if (is_time_reg(reg) && !(s_.nvram[kRegB] & kBSet)) latch_time();
      return s_.nvram[reg];
  }
}

void Cmos::write_reg(uint8_t reg, uint8_t v) {
  switch (reg) {
    case kRegA:
      s_.nvram[kRegA] = v & uint8_t(~kAUip);  // UIP is read-only (MC146818A, register A)
      return;
    case kRegB: {
      uint8_t old = s_.nvram[kRegB];
      if (!(old & kBSet) && (v & kBSet)) latch_time();  // freeze the time the guest will edit
      // Clearing SET resumes updates from the time the guest wrote, decoded
      // in the data mode it wrote it in.
      if ((old & kBSet) && !(v & kBSet)) commit_time();
      s_.nvram[kRegB] = v;
      return;
    }
    case kRegC:
    case kRegD:
      return;  // read-only (MC146818A, registers C and D)
    default:
      if (is_time_reg(reg) && !(s_.nvram[kRegB] & kBSet)) {
        // A field written while the clock runs replaces that field of the
        // current time (Linux sets SET first, which makes this rare).
        latch_time();
        s_.nvram[reg] = v;
        commit_time();
        return;
      }
      s_.nvram[reg] = v;
      return;
  }
}

void Cmos::latch_time() {
  time_t t = time_t(int64_t(now_()) + s_.offset);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return;
  uint8_t b = s_.nvram[kRegB];
  auto enc = [&](int v) { return (b & kBBinary) ? uint8_t(v) : to_bcd(v); };
  auto& r = s_.nvram;
  r[kSeconds] = enc(std::min(tm.tm_sec, 59));  // a leap second shows as :59
  r[kMinutes] = enc(tm.tm_min);
  if (b & k24Hour) {
    r[kHours] = enc(tm.tm_hour);
  } else {
    int h12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    r[kHours] = uint8_t(enc(h12) | (tm.tm_hour >= 12 ? kPm : 0));
  }
  r[kWeekday] = enc(tm.tm_wday + 1);  // 1 = Sunday
  r[kDay] = enc(tm.tm_mday);
  r[kMonth] = enc(tm.tm_mon + 1);
  int year = tm.tm_year + 1900;
  r[kYear] = enc(((year % 100) + 100) % 100);
  r[kCentury] = enc(std::clamp(year / 100, 0, 99));
}

void Cmos::commit_time() {
  // Guest-controlled bytes: anything decodes to some integer, timegm()
  // normalizes out-of-range fields, and an unrepresentable time is ignored.
  uint8_t b = s_.nvram[kRegB];
  auto dec = [&](uint8_t v) { return (b & kBBinary) ? int(v) : from_bcd(v); };
  auto& r = s_.nvram;
  std::tm tm{};
  tm.tm_sec = dec(r[kSeconds]);
  tm.tm_min = dec(r[kMinutes]);
  if (b & k24Hour) {
    tm.tm_hour = dec(r[kHours]);
  } else {
    tm.tm_hour = dec(r[kHours] & uint8_t(~kPm)) % 12 + ((r[kHours] & kPm) ? 12 : 0);
  }
  tm.tm_mday = dec(r[kDay]);
  tm.tm_mon = dec(r[kMonth]) - 1;
  tm.tm_year = dec(r[kCentury]) * 100 + dec(r[kYear]) - 1900;
  time_t t = timegm(&tm);
  int64_t off = int64_t(t) - int64_t(now_());
  if (t == time_t(-1) || off > kMaxOffset || off < -kMaxOffset) {
    log::guest_warn(warn_limit_, "{}: ignoring invalid RTC time", name_);
    return;
  }
  s_.offset = off;  // the weekday byte is not an input: it follows the date
}

void Cmos::set_memory_size(uint64_t below_4g, uint64_t above_4g) {
  constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
  auto sat = [](uint64_t v, uint64_t max) { return std::min(v, max); };
  uint64_t ext_kib = below_4g > kMiB ? sat((below_4g - kMiB) / kKiB, 0xffff) : 0;
  uint64_t above_16m = below_4g > 16 * kMiB ? sat((below_4g - 16 * kMiB) / (64 * kKiB), 0xffff) : 0;
  uint64_t high = sat(above_4g / (64 * kKiB), 0xffffff);
  std::lock_guard lock(mu_);
  auto& r = s_.nvram;
  r[0x17] = r[0x30] = uint8_t(ext_kib);
  r[0x18] = r[0x31] = uint8_t(ext_kib >> 8);
  r[0x34] = uint8_t(above_16m);
  r[0x35] = uint8_t(above_16m >> 8);
  r[0x5b] = uint8_t(high);
  r[0x5c] = uint8_t(high >> 8);
  r[0x5d] = uint8_t(high >> 16);
}

CmosState Cmos::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

int64_t Cmos::guest_time() const {
  std::lock_guard lock(mu_);
  return int64_t(now_()) + s_.offset;
}

StateNode Cmos::save() const {
  std::lock_guard lock(mu_);
  return save_state(s_);
}

void Cmos::restore(const StateNode& node) {
  CmosState s = load_state<CmosState>(node, name_);
  if (s.offset > kMaxOffset || s.offset < -kMaxOffset)
    throw Error(fmt::format("image: cmos state is invalid: clock offset {} s out of range", s.offset));
  std::lock_guard lock(mu_);
  s_ = s;
}

}  // namespace amber::dev
