#include "vmm/serial_trigger.h"

#include <gtest/gtest.h>

namespace amber::vmm {
namespace {

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

TEST(SerialTrigger, MatchesAcrossWrites) {
  SerialTrigger t("AMBER-READY");
  EXPECT_FALSE(t.feed(bytes("boot... AMB")));
  EXPECT_FALSE(t.feed(bytes("ER-RE")));
  EXPECT_TRUE(t.feed(bytes("ADY\r\n")));
  EXPECT_FALSE(t.feed(bytes("more output")));
}

TEST(SerialTrigger, OverlappingPrefixes) {
  SerialTrigger t("AAB");
  EXPECT_TRUE(t.feed(bytes("AAAB")));
  SerialTrigger u("ABAB");
  EXPECT_TRUE(u.feed(bytes("ABABAB")));
}

TEST(SerialTrigger, NoTextNeverFires) {
  SerialTrigger t("");
  EXPECT_FALSE(t.armed());
  EXPECT_FALSE(t.feed(bytes("anything")));
}

TEST(SerialTrigger, NearMissDoesNotFire) {
  SerialTrigger t("READY");
  EXPECT_FALSE(t.feed(bytes("REA")));
  EXPECT_FALSE(t.feed(bytes("DX REDAY READ")));
}

}  // namespace
}  // namespace amber::vmm
