#include "null_device.h"

#include <gtest/gtest.h>

namespace amber::dev {
namespace {

TEST(NullDevice, ReadsFillAndWritesAreIgnored) {
  NullDevice post("post");
  uint8_t buf[4] = {1, 2, 3, 4};
  post.read(0, buf);
  for (uint8_t b : buf) EXPECT_EQ(b, 0xff);
  const uint8_t w[2] = {0x12, 0x34};
  post.write(0, w);
  post.read(0, buf);
  EXPECT_EQ(buf[0], 0xff);
  EXPECT_EQ(post.name(), "post");

  NullDevice zero("pit-stub", 0x00);
  zero.read(0, buf);
  EXPECT_EQ(buf[3], 0x00);
}

TEST(NullDevice, StateIsEmptyAndRestoreAcceptsNewerNodes) {
  NullDevice post("post");
  EXPECT_EQ(post.save(), StateNode{});
  StateNode newer;
  newer.props["from_a_future_version"] = {1};
  EXPECT_NO_THROW(post.restore(newer));
  EXPECT_EQ(post.save(), StateNode{});
}

}  // namespace
}  // namespace amber::dev
