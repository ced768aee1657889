#include "gdb/breakpoints.h"

#include <vector>

#include <gtest/gtest.h>

namespace amber::gdb {
namespace {

struct Mem {
  std::vector<uint8_t> b = std::vector<uint8_t>(64, 0x90);
  SoftwareBreakpoints::Reader rd() {
    return [this](uint64_t a, uint8_t& v) {
      if (a >= b.size()) return false;
      v = b[a];
      return true;
    };
  }
  SoftwareBreakpoints::Writer wr() {
    return [this](uint64_t a, uint8_t v) {
      if (a >= b.size()) return false;
      b[a] = v;
      return true;
    };
  }
};

TEST(SoftwareBreakpoints, Int3InRamHiddenFromReadersAndRemovedCleanly) {
  Mem m;
  SoftwareBreakpoints sw;
  m.b[8] = 0x55;
  ASSERT_TRUE(sw.insert(0xffff0008, 8, m.rd(), m.wr()));
  EXPECT_EQ(m.b[8], kInt3);
  EXPECT_TRUE(sw.contains(0xffff0008));
  std::vector<uint8_t> view(m.b.begin(), m.b.begin() + 16);
  sw.hide(0xffff0000, view);
  EXPECT_EQ(view[8], 0x55) << "gdb reads the byte the int3 hides";
  EXPECT_FALSE(sw.insert(0x1, 100, m.rd(), m.wr())) << "not RAM";
  ASSERT_TRUE(sw.remove(0xffff0008, m.wr(), m.rd()));
  EXPECT_EQ(m.b[8], 0x55);
  EXPECT_FALSE(sw.remove(0xffff0008, m.wr(), m.rd()));
  EXPECT_TRUE(sw.empty());
}

TEST(SoftwareBreakpoints, LiftedForASnapshotAndRestoredAfter) {
  Mem m;
  SoftwareBreakpoints sw;
  ASSERT_TRUE(sw.insert(1, 1, m.rd(), m.wr()));
  ASSERT_TRUE(sw.insert(2, 2, m.rd(), m.wr()));
  sw.lift(m.wr(), m.rd());
  EXPECT_EQ(m.b[1], 0x90);
  EXPECT_EQ(m.b[2], 0x90);
  sw.restore(m.wr());
  EXPECT_EQ(m.b[1], kInt3);
  EXPECT_EQ(m.b[2], kInt3);
}

// An in-place reset brings the image's RAM back: no int3 there, and maybe
// other bytes. The breakpoints go in again over the new bytes, which a
// removal then puts back.
TEST(SoftwareBreakpoints, ReinsertedOverTheRamAResetBroughtBack) {
  Mem m;
  SoftwareBreakpoints sw;
  ASSERT_TRUE(sw.insert(3, 3, m.rd(), m.wr()));
  m.b.assign(64, 0x90);  // the image's RAM, without the int3
  m.b[3] = 0x66;
  sw.reinsert(m.rd(), m.wr());
  EXPECT_EQ(m.b[3], kInt3);
  std::vector<uint8_t> view(m.b.begin(), m.b.begin() + 8);
  sw.hide(0, view);
  EXPECT_EQ(view[3], 0x66);
  ASSERT_TRUE(sw.remove(3, m.wr(), m.rd()));
  EXPECT_EQ(m.b[3], 0x66);
}

TEST(SoftwareBreakpoints, AGuestThatRewroteTheByteKeepsItsOwn) {
  Mem m;
  SoftwareBreakpoints sw;
  ASSERT_TRUE(sw.insert(4, 4, m.rd(), m.wr()));
  m.b[4] = 0x11;  // the guest wrote over the int3
  sw.remove(4, m.wr(), m.rd());
  EXPECT_EQ(m.b[4], 0x11);
  ASSERT_TRUE(sw.insert(5, 5, m.rd(), m.wr()));
  EXPECT_EQ(sw.write_through(5, 0x22), kInt3) << "a debugger write under a breakpoint keeps the int3";
  sw.remove(5, m.wr(), m.rd());
  EXPECT_EQ(m.b[5], 0x22) << "... and the written byte comes back on removal";
}

TEST(HardwareBreakpoints, Dr7EncodingFollowsTheSdm) {
  HardwareBreakpoints hw;
  ASSERT_TRUE(hw.insert(HwKind::kExec, 0x100000, 1));
  ASSERT_TRUE(hw.insert(HwKind::kWrite, 0x2000, 4));
  ASSERT_TRUE(hw.insert(HwKind::kAccess, 0x3000, 8));
  ASSERT_TRUE(hw.insert(HwKind::kWrite, 0x4002, 2));
  EXPECT_FALSE(hw.insert(HwKind::kWrite, 0x5000, 1)) << "four slots";
  EXPECT_EQ(hw.dr(), (std::array<uint64_t, 4>{0x100000, 0x2000, 0x3000, 0x4002}));
  // L0..L3 = 0x55; slot 0 RW=00 LEN=00; slot 1 RW=01 LEN=11; slot 2 RW=11 LEN=10; slot 3 RW=01 LEN=01.
  uint64_t want = 0x55 | (0x0ull << 16) | (0xdull << 20) | (0xbull << 24) | (0x5ull << 28);
  EXPECT_EQ(hw.dr7(), want);
  auto hit = hw.hit(1ull << 2);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->kind, HwKind::kAccess);
  EXPECT_EQ(hit->addr, 0x3000u);
  EXPECT_FALSE(hw.hit(1ull << 14)) << "a single step (BS) is no slot's";
  ASSERT_TRUE(hw.remove(HwKind::kWrite, 0x2000, 4));
  EXPECT_EQ(hw.dr7() & 0xc, 0u);
  EXPECT_FALSE(hw.hit(1ull << 1));
}

TEST(HardwareBreakpoints, RefusesLengthsAndAlignmentsDr7CannotExpress) {
  HardwareBreakpoints hw;
  EXPECT_FALSE(hw.insert(HwKind::kWrite, 0x2001, 4));
  EXPECT_FALSE(hw.insert(HwKind::kWrite, 0x2000, 3));
  EXPECT_FALSE(hw.insert(HwKind::kWrite, 0x2000, 16));
  EXPECT_TRUE(hw.insert(HwKind::kExec, 0x100003, 1)) << "execution breakpoints take any address";
  EXPECT_TRUE(hw.empty() == false);
}

}  // namespace
}  // namespace amber::gdb
