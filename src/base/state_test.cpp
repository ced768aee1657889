#include "amber/state.h"

#include <gtest/gtest.h>

namespace amber {
namespace {

struct Inner {
  uint32_t a = 1;
  std::array<uint8_t, 3> b{1, 2, 3};
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("a", s.a)("b", s.b);
  }
  bool operator==(const Inner&) const = default;
};

struct Sample {
  uint8_t u8 = 7;
  uint16_t u16 = 0x1234;
  int64_t i64 = -5;
  bool flag = true;
  std::vector<uint8_t> fifo{9, 8};
  std::vector<uint64_t> words{1, 2};
  std::string text = "hi";
  Inner inner;
  std::vector<Inner> list{Inner{}, Inner{5, {4, 5, 6}}};
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("u8", s.u8)("u16", s.u16)("i64", s.i64)("flag", s.flag)("fifo", s.fifo, 4)("words", s.words);
    ar("text", s.text, 16)("inner", s.inner)("list", s.list, 4);
  }
  bool operator==(const Sample&) const = default;
};

TEST(State, RoundTripEqual) {
  Sample s;
  s.u8 = 42;
  s.fifo = {1, 2, 3};
  s.list[1].a = 99;
  StateNode n = save_state(s);
  EXPECT_EQ(load_state<Sample>(n), s);
}

TEST(State, MutationChangesSavedNode) {
  Sample s;
  StateNode before = save_state(s);
  s.inner.b[2] = 0;
  EXPECT_NE(save_state(s), before);
}

TEST(State, ScalarsAreLittleEndianFixedSize) {
  Sample s;
  StateNode n = save_state(s);
  EXPECT_EQ(n.props.at("u16"), (std::vector<uint8_t>{0x34, 0x12}));
  EXPECT_EQ(n.props.at("i64").size(), 8u);
}

TEST(State, MissingPropertyKeepsDefault) {
  StateNode n = save_state(Sample{});
  n.props.erase("u16");
  Sample loaded = load_state<Sample>(n);
  EXPECT_EQ(loaded.u16, 0x1234);
}

TEST(State, WrongSizeIsError) {
  StateNode n = save_state(Sample{});
  n.props["u16"] = {1, 2, 3};
  EXPECT_THROW(load_state<Sample>(n), Error);
}

TEST(State, CapIsEnforced) {
  StateNode n = save_state(Sample{});
  n.props["fifo"] = std::vector<uint8_t>(5, 0);
  EXPECT_THROW(load_state<Sample>(n), Error);
  n = save_state(Sample{});
  n.props["list#count"] = {200, 0, 0, 0};
  EXPECT_THROW(load_state<Sample>(n), Error);
}

TEST(State, BadBooleanIsError) {
  StateNode n = save_state(Sample{});
  n.props["flag"] = {2};
  EXPECT_THROW(load_state<Sample>(n), Error);
}

TEST(State, FormatShowsNamesAndValues) {
  std::string text = format_state(save_state(Sample{}));
  EXPECT_NE(text.find("u16 = 0x1234"), std::string::npos);
  EXPECT_NE(text.find("text = \"hi\""), std::string::npos);
  EXPECT_NE(text.find("inner {"), std::string::npos);
}

}  // namespace
}  // namespace amber
