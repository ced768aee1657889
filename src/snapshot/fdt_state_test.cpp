#include "snapshot/fdt_state.h"

#include <gtest/gtest.h>

extern "C" {
#include <libfdt.h>
}

namespace amber::image {
namespace {

bool allowed(const std::string& s, bool node) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view(",._+-%").find(c) != std::string_view::npos;
    if (node && c == '@') ok = true;
    if (!node && (c == '?' || c == '#')) ok = true;
    if (!ok) return false;
  }
  return true;
}

TEST(FdtNames, EscapeRoundTrips) {
  for (std::string name : std::vector<std::string>{"", "plain", "vcpu@0", "a@b@c", "@x", "list#count", "a/b", "sp ace", "%", "%41",
                           std::string("nul\0in", 6), "\xff\xfe"}) {
    auto n = escape_node_name(name), p = escape_prop_name(name);
    EXPECT_TRUE(allowed(n, true)) << n;
    EXPECT_TRUE(allowed(p, false)) << p;
    EXPECT_EQ(unescape_name(n), name) << n;
    EXPECT_EQ(unescape_name(p), name) << p;
  }
  EXPECT_EQ(escape_node_name("vcpu@0"), "vcpu@0");
  EXPECT_EQ(escape_node_name("a@b@c"), "a@b%40c");
  EXPECT_EQ(escape_prop_name("a/b"), "a%2Fb");
  EXPECT_EQ(escape_prop_name(""), "%");
}

TEST(FdtNames, BadEscapesAreRejected) {
  EXPECT_FALSE(unescape_name("%4"));
  EXPECT_FALSE(unescape_name("ab%"));
  EXPECT_FALSE(unescape_name("%zz"));
  EXPECT_FALSE(unescape_name("%4a"));  // lower-case hex is not what the writer emits
}

TEST(FdtState, TreeRoundTripsThroughLibfdt) {
  StateNode root;
  root.props["x"] = {1, 2};
  root.props["empty"] = {};
  root.children["a b"].children["c/d"].props["#n"] = {9};
  root.children["a b"].props["z"] = std::vector<uint8_t>(300000, 1);  // forces buffer growth
  FdtWriter w;
  w.begin_node("state");
  write_state(w, root);
  w.end_node();
  auto blob = w.finish();
  ASSERT_EQ(fdt_check_full(blob.data(), blob.size()), 0);
  FdtReader rd(blob.data(), "t");
  int node = rd.subnode(0, "state");
  ASSERT_GE(node, 0);
  EXPECT_EQ(rd.state(node, "/state"), root);
}

TEST(FdtState, DuplicateNamesAfterUnescapeAreRejected) {
  FdtWriter w;
  w.begin_node("state");
  w.prop("a", std::vector<uint8_t>{1});
  w.prop("%61", std::vector<uint8_t>{2});  // also "a"
  w.end_node();
  auto blob = w.finish();
  FdtReader rd(blob.data(), "t");
  EXPECT_THROW(rd.state(rd.subnode(0, "state"), "/state"), Error);
}

TEST(FdtState, DeepNestingIsRejected) {
  FdtWriter w;
  for (int i = 0; i < 40; ++i) w.begin_node("n");
  for (int i = 0; i < 40; ++i) w.end_node();
  auto blob = w.finish();
  FdtReader rd(blob.data(), "t");
  EXPECT_THROW(rd.state(0, "/"), Error);
}

TEST(FdtReader, TypedAccessorsCheckSizes) {
  FdtWriter w;
  w.prop_u64("v", 0x0102030405060708ull);
  w.prop("short", std::vector<uint8_t>{1, 2, 3});
  w.prop_u64s("t", {1, 2, 3, 4, 5, 6});
  auto blob = w.finish();
  FdtReader rd(blob.data(), "t");
  EXPECT_EQ(rd.u64(0, "v", "/"), 0x0102030405060708ull);
  EXPECT_THROW(rd.u64(0, "short", "/"), Error);
  EXPECT_THROW(rd.u64(0, "missing", "/"), Error);
  EXPECT_EQ(rd.u64s(0, "t", "/", 3).size(), 6u);
  EXPECT_THROW(rd.u64s(0, "t", "/", 4), Error);
}

}  // namespace
}  // namespace amber::image
