#include "virtio/p9/share_spec.h"

#include <gtest/gtest.h>

#include "amber/error.h"

namespace amber::virtio::p9 {
namespace {

TEST(ShareSpec, ParsesPathTagAndReadOnly) {
  EXPECT_EQ(ShareSpec::parse("/srv"), (ShareSpec{"/srv", "", false}));
  EXPECT_EQ(ShareSpec::parse("/srv,tag=src,ro"), (ShareSpec{"/srv", "src", true}));
  EXPECT_EQ(ShareSpec::parse("d,ro,tag=a.b_c-1"), (ShareSpec{"d", "a.b_c-1", true}));
}

TEST(ShareSpec, RefusesBadSpecs) {
  for (const char* bad : {"", ",ro", "/srv,rw", "/srv,ro,ro", "/srv,tag=", "/srv,tag=a,tag=b", "/srv,tag=a b",
                          "/srv,tag=a/b", "/srv,ro=1", "/srv,tag"})
    EXPECT_THROW(ShareSpec::parse(bad), UsageError) << bad;
  EXPECT_THROW(ShareSpec::parse("/srv,tag=" + std::string(ShareSpec::kMaxTag + 1, 'a')), UsageError);
  EXPECT_NO_THROW(ShareSpec::parse("/srv,tag=" + std::string(ShareSpec::kMaxTag, 'a')));
}

TEST(ShareSpec, DefaultTagsAreShareNAndTagsAreUnique) {
  auto v = parse_shares({"/a", "/b,tag=mine", "/c"});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].tag, "share0");
  EXPECT_EQ(v[1].tag, "mine");
  EXPECT_EQ(v[2].tag, "share2");
  EXPECT_THROW(parse_shares({"/a,tag=x", "/b,tag=x"}), UsageError);
  EXPECT_THROW(parse_shares({"/a", "/b,tag=share0"}), UsageError);
}

}  // namespace
}  // namespace amber::virtio::p9
