#include "gdb/rsp.h"

#include <gtest/gtest.h>

namespace amber::gdb {
namespace {

std::vector<RspEvent> feed(PacketReader& r, std::string_view bytes) {
  std::vector<RspEvent> out;
  for (char c : bytes)
    if (auto e = r.feed(uint8_t(c))) out.push_back(*e);
  return out;
}

TEST(Rsp, FramesWithTheModulo256Checksum) {
  EXPECT_EQ(frame("OK"), "$OK#9a");
  EXPECT_EQ(frame(""), "$#00");
}

TEST(Rsp, EscapesTheBytesThatWouldEndOrRunLengthAPacket) {
  // '#' (0x23) -> "}\x03", '$' -> "}\x04", '}' -> "}]", '*' -> "}\n".
  EXPECT_EQ(frame("a#b").substr(0, 5), "$a}\x03" "b");
  PacketReader r;
  auto ev = feed(r, frame("x$y}z*#"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RspEvent::kPacket);
  EXPECT_EQ(ev[0].payload, "x$y}z*#") << "what frame() escapes, the reader unescapes";
}

TEST(Rsp, ReadsPacketsAcksAndTheInterruptByte) {
  PacketReader r;
  auto ev = feed(r, "+$g#67-\x03junk$m0,4#fd");
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].kind, RspEvent::kAck);
  EXPECT_EQ(ev[1].kind, RspEvent::kPacket);
  EXPECT_EQ(ev[1].payload, "g");
  EXPECT_EQ(ev[2].kind, RspEvent::kNack);
  EXPECT_EQ(ev[3].kind, RspEvent::kInterrupt);
  EXPECT_EQ(ev[4].payload, "m0,4") << "bytes between packets are skipped";
}

TEST(Rsp, RefusesABadChecksumAndAnOversizedPacket) {
  PacketReader r;
  auto ev = feed(r, "$g#00$g#6z");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, RspEvent::kBadChecksum);
  EXPECT_EQ(ev[1].kind, RspEvent::kBadChecksum);
  std::string big(kMaxPacket + 10, 'a');
  ev = feed(r, frame(big));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, RspEvent::kTooLong);
  ev = feed(r, frame("?"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].payload, "?") << "the reader recovers after a refused packet";
}

TEST(Rsp, HexHelpers) {
  EXPECT_EQ(parse_hex("ff"), 255u);
  EXPECT_EQ(parse_hex("ffffffffffffffff"), ~0ull);
  EXPECT_FALSE(parse_hex("1ffffffffffffffff")) << "17 digits overflow";
  EXPECT_FALSE(parse_hex(""));
  EXPECT_FALSE(parse_hex("-1"));
  EXPECT_EQ(to_hex(std::string_view("OK")), "4f4b");
  EXPECT_EQ(from_hex("4f4B"), (std::vector<uint8_t>{0x4f, 0x4b}));
  EXPECT_FALSE(from_hex("4f4"));
  EXPECT_FALSE(from_hex("zz"));
}

}  // namespace
}  // namespace amber::gdb
