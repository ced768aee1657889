// CMOS RTC tests against MC146818A register semantics, with a fake clock.
#include "cmos.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace amber::dev {
namespace {

time_t utc(int y, int mon, int d, int h, int m, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  return timegm(&tm);
}

class CmosTest : public ::testing::Test {
 protected:
  uint8_t rd(uint8_t index) {
    cmos.write(0, std::span<const uint8_t>(&index, 1));
    uint8_t v = 0;
    cmos.read(1, {&v, 1});
    return v;
  }
  void wr(uint8_t index, uint8_t v) {
    cmos.write(0, std::span<const uint8_t>(&index, 1));
    cmos.write(1, std::span<const uint8_t>(&v, 1));
  }

  time_t now = utc(2024, 2, 29, 13, 45, 56);  // a Thursday
  Cmos cmos{[this] { return now; }};
};

TEST_F(CmosTest, TimeRegistersAreBcd24Hour) {
  EXPECT_EQ(rd(0x00), 0x56);
  EXPECT_EQ(rd(0x02), 0x45);
  EXPECT_EQ(rd(0x04), 0x13);
  EXPECT_EQ(rd(0x06), 0x05);  // 1 = Sunday
  EXPECT_EQ(rd(0x07), 0x29);
  EXPECT_EQ(rd(0x08), 0x02);
  EXPECT_EQ(rd(0x09), 0x24);
  EXPECT_EQ(rd(0x32), 0x20);
}

TEST_F(CmosTest, StatusRegisters) {
  EXPECT_EQ(rd(0x0a), 0x26);  // UIP clear
  EXPECT_EQ(rd(0x0b), 0x02);  // 24 h, BCD
  EXPECT_EQ(rd(0x0c), 0x00);
  EXPECT_EQ(rd(0x0d), 0x80);  // valid RAM and time
  wr(0x0a, 0xa6);             // UIP is read-only
  EXPECT_EQ(rd(0x0a), 0x26);
  wr(0x0c, 0xff);
  wr(0x0d, 0x00);
  EXPECT_EQ(rd(0x0c), 0x00);
  EXPECT_EQ(rd(0x0d), 0x80);
}

TEST_F(CmosTest, ClockAdvancesWithHostTime) {
  now += 3600 * 11 + 5;  // 2024-03-01 00:46:01
  EXPECT_EQ(rd(0x00), 0x01);
  EXPECT_EQ(rd(0x04), 0x00);
  EXPECT_EQ(rd(0x07), 0x01);
  EXPECT_EQ(rd(0x08), 0x03);
}

TEST_F(CmosTest, NoValidIndexReadsFF) {
  // A 0xff read of port 0x71 costs the guest a second at boot.
  for (int i = 0; i < 128; ++i) EXPECT_NE(rd(uint8_t(i)), 0xff) << i;
}

TEST_F(CmosTest, NmiMaskBitDoesNotChangeTheIndex) {
  EXPECT_EQ(rd(0x80 | 0x09), 0x24);
  wr(0x80 | 0x40, 0x11);
  EXPECT_EQ(rd(0x40), 0x11);
  uint8_t idx = 0;
  cmos.read(0, {&idx, 1});
  EXPECT_EQ(idx, 0x40);
  EXPECT_EQ(cmos.state().index, 0x40);
}

TEST_F(CmosTest, NvramBytesStick) {
  for (int i = 0x0e; i < 0x80; ++i) {
    if (i == 0x32) continue;  // century: a time register
    wr(uint8_t(i), uint8_t(i ^ 0x5a));
  }
  for (int i = 0x0e; i < 0x80; ++i) {
    if (i == 0x32) continue;
    EXPECT_EQ(rd(uint8_t(i)), i ^ 0x5a) << i;
  }
}

TEST_F(CmosTest, BinaryAnd12HourModes) {
  wr(0x0b, 0x06);  // binary, 24 h
  EXPECT_EQ(rd(0x00), 56);
  EXPECT_EQ(rd(0x04), 13);
  EXPECT_EQ(rd(0x09), 24);
  wr(0x0b, 0x00);  // BCD, 12 h
  EXPECT_EQ(rd(0x04), 0x81);  // 1 PM
  now = utc(2024, 2, 29, 0, 5, 0);
  EXPECT_EQ(rd(0x04), 0x12);  // 12 AM
}

// Linux's mc146818_set_time(): set SET, write the fields, clear SET.
TEST_F(CmosTest, GuestSetsTimeWithSetBit) {
  wr(0x0b, 0x82);
  wr(0x09, 0x30);
  wr(0x08, 0x06);
  wr(0x07, 0x15);
  wr(0x04, 0x08);
  wr(0x02, 0x30);
  wr(0x00, 0x00);
  now += 100;  // frozen while SET is on
  EXPECT_EQ(rd(0x00), 0x00);
  EXPECT_EQ(rd(0x09), 0x30);
  wr(0x0b, 0x02);
  EXPECT_EQ(cmos.guest_time(), utc(2030, 6, 15, 8, 30, 0));
  now += 61;
  EXPECT_EQ(rd(0x00), 0x01);
  EXPECT_EQ(rd(0x02), 0x31);
  EXPECT_EQ(rd(0x06), 0x07);  // 2030-06-15 is a Saturday
}

// Writing month 2 before day 15 on the 31st must not land in March: with SET
// the fields are applied together.
TEST_F(CmosTest, SetBitAppliesFieldsTogether) {
  now = utc(2024, 1, 31, 12, 0, 0);
  wr(0x0b, 0x82);
  wr(0x08, 0x02);
  wr(0x07, 0x15);
  wr(0x0b, 0x02);
  EXPECT_EQ(cmos.guest_time(), utc(2024, 2, 15, 12, 0, 0));
}

TEST_F(CmosTest, SingleFieldWriteWhileRunning) {
  wr(0x02, 0x00);
  EXPECT_EQ(rd(0x02), 0x00);
  EXPECT_EQ(rd(0x04), 0x13);
  EXPECT_EQ(cmos.guest_time(), utc(2024, 2, 29, 13, 0, 56));
}

TEST_F(CmosTest, GarbageTimeNeverBreaksTheClock) {
  wr(0x0b, 0x86);  // binary, SET
  for (uint8_t r : {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32}) wr(r, 0xff);
  wr(0x0b, 0x06);
  int64_t t = cmos.guest_time();
  EXPECT_LE(t, Cmos::kMaxOffset + now);
  EXPECT_GE(t, -Cmos::kMaxOffset + now);
  EXPECT_NO_THROW(cmos.restore(cmos.save()));
  for (int i = 0; i < 10; ++i) rd(uint8_t(i));  // reads keep working
}

TEST_F(CmosTest, MemorySizeRegisters) {
  cmos.set_memory_size(512ull << 20, 1ull << 30);
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, (512 - 16) * 16);  // 64 KiB units above 16 MiB
  EXPECT_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 16384);
  EXPECT_EQ(rd(0x17) | rd(0x18) << 8, 0xffff);  // KiB above 1 MiB, saturated
  EXPECT_EQ(rd(0x30) | rd(0x31) << 8, 0xffff);
  EXPECT_EQ(rd(0x15) | rd(0x16) << 8, 640);
  cmos.set_memory_size(8ull << 20, 0);
  EXPECT_EQ(rd(0x17) | rd(0x18) << 8, 7 * 1024);
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, 0);
  EXPECT_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0);
  cmos.set_memory_size(3ull << 30, 1ull << 42);  // saturates at 0xffffff
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, 0xbf00);
  EXPECT_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0xffffff);
}

TEST_F(CmosTest, StateMutationChangesSave) {
  std::vector<std::function<void()>> mutations = {
      [&] { wr(0x40, 1); },
      [&] { uint8_t i = 0x21; cmos.write(0, std::span<const uint8_t>(&i, 1)); },
      [&] { wr(0x09, 0x30); },  // offset
      [&] { wr(0x0b, 0x06); },
  };
  for (size_t i = 0; i < mutations.size(); ++i) {
    cmos.restore(Cmos([this] { return now; }).save());
    StateNode before = cmos.save();
    mutations[i]();
    EXPECT_NE(cmos.save(), before) << i;
  }
}

TEST_F(CmosTest, SaveMutateRestoreIsEqual) {
  wr(0x09, 0x31);
  wr(0x50, 0xab);
  CmosState saved_state = cmos.state();
  StateNode saved = cmos.save();
  wr(0x09, 0x24);
  wr(0x50, 0x00);
  ASSERT_NE(cmos.state(), saved_state);
  cmos.restore(saved);
  EXPECT_EQ(cmos.state(), saved_state);
  EXPECT_EQ(rd(0x09), 0x31);
  EXPECT_EQ(rd(0x50), 0xab);
  // A restored clock keeps its offset against a later host clock.
  Cmos later([this] { return now + 86400; });
  later.restore(saved);
  EXPECT_EQ(later.guest_time(), cmos.guest_time() + 86400);
}

TEST_F(CmosTest, CorruptNodeThrowsAndLeavesDeviceUnchanged) {
  StateNode good = cmos.save();
  std::vector<std::function<void(StateNode&)>> cases = {
      [](StateNode& n) { n.props["nvram"] = std::vector<uint8_t>(129, 0); },
      [](StateNode& n) { n.props["nvram"] = std::vector<uint8_t>(127, 0); },
      [](StateNode& n) { n.props["index"] = {1, 2}; },
      [](StateNode& n) { n.props["offset"] = {0, 0, 0, 0, 0, 0, 0, 0x40}; },  // 2^62 s
      [](StateNode& n) { n.props["offset"] = {0, 0, 0, 0, 0, 0, 0, 0x80}; },  // -2^63 s
  };
  wr(0x60, 0x99);
  CmosState before = cmos.state();
  for (size_t i = 0; i < cases.size(); ++i) {
    StateNode bad = good;
    cases[i](bad);
    EXPECT_THROW(cmos.restore(bad), Error) << i;
    EXPECT_EQ(cmos.state(), before) << i;
  }
}

}  // namespace
}  // namespace amber::dev
