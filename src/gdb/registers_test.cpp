#include "gdb/registers.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "gdb/rsp.h"

namespace amber::gdb {
namespace {

size_t count(const std::string& s, std::string_view what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(GdbRegisters, TargetXmlDescribesEveryRegisterInGdbsFeatures) {
  const std::string& x = target_xml();
  EXPECT_NE(x.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
  for (auto f : {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments", "org.amber.x86.sys"})
    EXPECT_EQ(count(x, fmt::format("<feature name=\"{}\">", f)), 1u) << f;
  EXPECT_EQ(count(x, "<reg "), size_t(kNumRegs));
  EXPECT_EQ(count(x, "<feature "), count(x, "</feature>"));
  for (auto r : {"\"rip\"", "\"eflags\"", "\"fs_base\"", "\"gs_base\"", "\"cr3\"", "\"efer\"", "\"xmm15\"", "\"st7\""})
    EXPECT_NE(x.find(std::string("name=") + r), std::string::npos) << r;
  EXPECT_NE(x.find("name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\""), std::string::npos);
}

hv::DebugRegs sample() {
  hv::DebugRegs r;
  for (size_t i = 0; i < 16; ++i) r.gpr[i] = 0x1111111111111111ull * (i + 1);
  r.rip = 0x100010;
  r.rflags = 0x246;
  r.sel = {0x10, 0x18, 0x18, 0x18, 0, 0};
  r.st[2][9] = 0x40;
  r.xmm[15][15] = 0xee;
  r.fs_base = 0xfeed;
  r.cr3 = 0x9000;
  r.efer = 0xd01;
  return r;
}

TEST(GdbRegisters, GPacketRoundTripsAndHasTheDescribedSize) {
  auto r = sample();
  std::string g = encode_registers(r);
  // 16*8 + 8 + 4 + 6*4 + 8*10 + 8*4 + 16*16 + 4 + 9*8 bytes, two digits each.
  EXPECT_EQ(g.size(), 2u * (128 + 8 + 4 + 24 + 80 + 32 + 256 + 4 + 72));
  EXPECT_EQ(g.substr(16 * 16, 16), "1000100000000000") << "rip, little-endian, after the 16 GPRs";
  hv::DebugRegs back;
  ASSERT_TRUE(decode_registers(back, g));
  EXPECT_EQ(back, r);
  EXPECT_FALSE(decode_registers(back, g.substr(2))) << "short";
  std::string bad = g;
  bad[5] = 'x';
  hv::DebugRegs untouched;
  EXPECT_FALSE(decode_registers(untouched, bad));
  EXPECT_EQ(untouched, hv::DebugRegs{}) << "a refused G changes nothing";
}

TEST(GdbRegisters, SingleRegistersHaveTheirOwnWidths) {
  auto r = sample();
  EXPECT_EQ(reg_bytes(r, 17).size(), 4u) << "eflags";
  EXPECT_EQ(reg_bytes(r, 18), (std::vector<uint8_t>{0x10, 0, 0, 0})) << "cs";
  EXPECT_EQ(reg_bytes(r, 26).size(), 10u) << "st2: 80 bits";
  EXPECT_EQ(reg_bytes(r, 26)[9], 0x40);
  EXPECT_EQ(reg_bytes(r, 55).size(), 16u) << "xmm15";
  EXPECT_EQ(reg_bytes(r, 62)[1], 0x90) << "cr3 = 0x9000";
  std::vector<uint8_t> rip{0x34, 0x12, 0, 0, 0, 0, 0, 0};
  ASSERT_TRUE(set_reg_bytes(r, kRegRip, rip));
  EXPECT_EQ(r.rip, 0x1234u);
  EXPECT_FALSE(set_reg_bytes(r, kRegRip, std::vector<uint8_t>(4))) << "wrong width";
  EXPECT_FALSE(set_reg_bytes(r, kNumRegs, rip));
  EXPECT_FALSE(set_reg_bytes(r, -1, rip));
}

}  // namespace
}  // namespace amber::gdb
