#include "amber/guest_memory.h"

#include <gtest/gtest.h>

namespace amber {
namespace {

TEST(GuestMemory, SliceInsideRegion) {
  GuestMemory mem;
  mem.add_region(0x1000, Mapping::anonymous(0x2000));
  auto s = mem.try_slice(0x1ff0, 0x20);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 0x20u);
  EXPECT_TRUE(mem.try_slice(0x3000, 0));  // the end is a valid empty slice
}

TEST(GuestMemory, OutOfRangeAndOverflowAreRejected) {
  GuestMemory mem;
  mem.add_region(0x1000, Mapping::anonymous(0x2000));
  EXPECT_FALSE(mem.try_slice(0x0, 1));
  EXPECT_FALSE(mem.try_slice(0x2fff, 2));
  EXPECT_FALSE(mem.try_slice(0x1000, ~0ull));
  EXPECT_FALSE(mem.try_slice(~0ull, 2));
  EXPECT_FALSE(mem.read_obj<uint64_t>(0x2ffc));
  EXPECT_THROW(mem.write(0x2fff, std::vector<uint8_t>(2)), Error);
}

TEST(GuestMemory, ObjectsRoundTrip) {
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(0x1000));
  EXPECT_TRUE(mem.write_obj<uint32_t>(0x11, 0xdeadbeef));
  EXPECT_EQ(mem.read_obj<uint32_t>(0x11).value(), 0xdeadbeefu);
}

TEST(GuestMemory, OverlappingRegionsAreRejected) {
  GuestMemory mem;
  mem.add_region(0x1000, Mapping::anonymous(0x2000));
  EXPECT_THROW(mem.add_region(0x2000, Mapping::anonymous(0x1000)), Error);
  EXPECT_NO_THROW(mem.add_region(0x3000, Mapping::anonymous(0x1000)));
}

}  // namespace
}  // namespace amber
