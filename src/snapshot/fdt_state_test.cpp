#include "snapshot/fdt_state.h"

#include <gtest/gtest.h>

extern "C" {
#include <libfdt.h>
}

#include "amber/error.h"
#include "snapshot/image_format.h"

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

TEST(FdtState, LongNamesAreRejected) {
  // The writer refuses them (a save fails rather than writing an unreadable
  // image), so the hostile blob is made with libfdt directly.
  FdtWriter w;
  EXPECT_THROW(w.prop(std::string(kMaxNameLen + 1, 'p'), std::vector<uint8_t>{1}), Error);
  EXPECT_THROW(w.begin_node(std::string(kMaxNameLen + 1, 'n')), Error);
  std::vector<uint8_t> blob(4096);
  ASSERT_EQ(fdt_create_empty_tree(blob.data(), static_cast<int>(blob.size())), 0);
  int state = fdt_add_subnode(blob.data(), 0, "state");
  ASSERT_GE(state, 0);
  ASSERT_EQ(fdt_setprop_u32(blob.data(), state, std::string(kMaxNameLen + 1, 'p').c_str(), 1), 0);
  ASSERT_GE(fdt_add_subnode(blob.data(), 0, std::string(kMaxNameLen + 1, 'n').c_str()), 0);
  FdtReader rd(blob.data(), "t");
  try {
    rd.state(rd.subnode(0, "state"), "/state");
    ADD_FAILURE() << "a property name over the cap was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("property name of 257 bytes"), std::string::npos) << e.what();
  }
  int root_children = 0, child;
  fdt_for_each_subnode(child, blob.data(), 0) ++root_children;
  EXPECT_EQ(root_children, 2);
  EXPECT_THROW(rd.state(0, "/"), Error);
  EXPECT_THROW(check_fdt_strings(blob.data(), "t"), Error);
}

TEST(FdtState, NamesAtTheCapAreRead) {
  StateNode root;
  root.props[std::string(kMaxNameLen, 'p')] = {1};
  root.children[std::string(kMaxNameLen, 'n')].props["x"] = {2};
  FdtWriter w;
  write_state(w, root);
  auto blob = w.finish();
  EXPECT_NO_THROW(check_fdt_strings(blob.data(), "t"));
  FdtReader rd(blob.data(), "t");
  EXPECT_EQ(rd.state(0, "/"), root);
}

TEST(FdtState, TooManyNodesAreRejected) {
  // Empty nodes: 8 bytes of FDT each, ~100 bytes as a StateNode.
  FdtWriter w;
  for (uint64_t i = 0; i < kMaxStateItems + 1; ++i) {
    w.begin_node("n@" + std::to_string(i));
    w.end_node();
  }
  auto blob = w.finish();
  FdtReader rd(blob.data(), "t");
  try {
    rd.state(0, "/");
    ADD_FAILURE() << "more nodes than the cap were read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 262144 state nodes"), std::string::npos) << e.what();
  }
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
