#include "virtio/disk/cow_disk.h"

#include <gtest/gtest.h>

#include "virtio/disk/raw_disk.h"
#include "virtio/testing/temp_dir.h"

namespace amber::block {
namespace {

using testing::TempDir;

constexpr uint64_t kSize = 64 * 1024 + 1024;  // not a multiple of the block size

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 31 + i / 256);
  return v;
}

class CowDiskTest : public ::testing::Test {
 protected:
  CowDiskTest() : base_bytes(pattern(kSize, 7)) { base_path = dir.write("base.img", base_bytes, 0444); }
  std::unique_ptr<CowDisk> open(const std::string& overlay = "") {
    return CowDisk::open(RawDisk::open(base_path, true, "base"), overlay, false, "");
  }
  std::vector<uint8_t> read_all(DiskBackend& d) {
    std::vector<uint8_t> out(d.size());
    EXPECT_TRUE(d.read(0, out));
    return out;
  }

  TempDir dir;
  std::vector<uint8_t> base_bytes;
  std::string base_path;
};

TEST_F(CowDiskTest, ReadsBaseUntilWritten) {
  auto disk = open();
  EXPECT_EQ(disk->size(), kSize);
  EXPECT_EQ(disk->id(), "base");
  EXPECT_FALSE(disk->read_only());
  EXPECT_EQ(read_all(*disk), base_bytes);
  EXPECT_EQ(disk->overlay_blocks(), 0u);
}

TEST_F(CowDiskTest, WritesMergeAndNeverTouchTheBase) {
  auto disk = open();
  std::vector<uint8_t> expect = base_bytes;
  auto put = [&](uint64_t off, size_t len, uint8_t seed) {
    auto data = pattern(len, seed);
    ASSERT_TRUE(disk->write(off, data));
    std::copy(data.begin(), data.end(), expect.begin() + long(off));
  };
  put(100, 50, 1);             // partial block: copy-up
  put(4096, 8192, 2);          // two whole blocks
  put(4096 * 3 + 4000, 200, 3);  // straddles blocks 3 and 4
  put(kSize - 512, 512, 4);    // inside the short last block
  EXPECT_EQ(read_all(*disk), expect);
  EXPECT_EQ(disk->overlay_blocks(), 6u);
  ASSERT_TRUE(disk->flush());
  EXPECT_EQ(TempDir::read_all(base_path), base_bytes);  // byte for byte
  // Unaligned reads across overlay/base boundaries.
  std::vector<uint8_t> part(5000);
  ASSERT_TRUE(disk->read(3000, part));
  EXPECT_EQ(part, std::vector<uint8_t>(expect.begin() + 3000, expect.begin() + 8000));
}

TEST_F(CowDiskTest, WriteZeroesHidesBaseData) {
  auto disk = open();
  ASSERT_TRUE(disk->write_zeroes(1000, 10000, true));
  auto all = read_all(*disk);
  EXPECT_EQ(std::vector<uint8_t>(all.begin() + 1000, all.begin() + 11000), std::vector<uint8_t>(10000, 0));
  EXPECT_EQ(all[999], base_bytes[999]);
  EXPECT_EQ(all[11000], base_bytes[11000]);
  EXPECT_EQ(TempDir::read_all(base_path), base_bytes);
}

TEST_F(CowDiskTest, DiscardNeverChangesUnwrittenBlocks) {
  auto disk = open();
  ASSERT_TRUE(disk->discard(0, 16384));
  EXPECT_EQ(read_all(*disk), base_bytes);
  EXPECT_FALSE(disk->discard(kSize, 1));
}

TEST_F(CowDiskTest, NamedOverlayReopens) {
  std::string ov = dir.file("ov.cow");
  auto data = pattern(3000, 99);
  {
    auto disk = open(ov);
    ASSERT_TRUE(disk->write(5000, data));
    ASSERT_TRUE(disk->flush());
  }
  auto disk = open(ov);
  std::vector<uint8_t> back(3000);
  ASSERT_TRUE(disk->read(5000, back));
  EXPECT_EQ(back, data);
  EXPECT_EQ(disk->overlay_blocks(), 1u);  // 5000..8000 lies in block 1
}

TEST_F(CowDiskTest, OverlayIsLockedWhileOpen) {
  std::string ov = dir.file("ov.cow");
  auto a = open(ov);
  try {
    open(ov);
    FAIL() << "second open succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos);
  }
}

TEST_F(CowDiskTest, MismatchedBaseIsRefused) {
  std::string ov = dir.file("ov.cow");
  open(ov)->write(0, pattern(512, 1));
  // Same size, different file: identity differs.
  std::string other = dir.write("other.img", base_bytes);
  try {
    CowDisk::open(RawDisk::open(other, true, "o"), ov, false, "");
    FAIL() << "mismatched base accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match its base"), std::string::npos) << e.what();
  }
  // Different size.
  std::string small = dir.write("small.img", std::vector<uint8_t>(4096, 0));
  EXPECT_THROW(CowDisk::open(RawDisk::open(small, true, "s"), ov, false, ""), Error);
}

TEST_F(CowDiskTest, CorruptOverlayIsRefused) {
  std::string ov = dir.write("bad.cow", std::vector<uint8_t>(8192, 0x41));
  try {
    open(ov);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad magic"), std::string::npos);
  }
  // A valid header with a bitmap bit past the last block.
  std::string ov2 = dir.file("ov2.cow");
  open(ov2).reset();
  auto bytes = TempDir::read_all(ov2);
  uint64_t blocks = (kSize + 4095) / 4096;
  bytes[OverlayHeader::kBitmapOffset + blocks / 8] |= 0x80;
  dir.write("ov2.cow", bytes, 0644);
  EXPECT_THROW(open(ov2), Error);
}

TEST_F(CowDiskTest, ResetOverlayDropsWrites) {
  std::string ov = dir.file("ov.cow");
  auto disk = open(ov);
  ASSERT_TRUE(disk->write(0, pattern(20000, 3)));
  ASSERT_NE(read_all(*disk), base_bytes);
  disk->reset_overlay();
  EXPECT_EQ(read_all(*disk), base_bytes);
  EXPECT_EQ(disk->overlay_blocks(), 0u);
  disk.reset();
  EXPECT_EQ(read_all(*open(ov)), base_bytes);  // persisted
}

TEST_F(CowDiskTest, DataExtentsAreTheUnion) {
  constexpr uint64_t kMiB = 1 << 20;
  std::string sparse = dir.sparse("sparse.img", 4 * kMiB, 0, pattern(4096, 1));
  auto disk = CowDisk::open(RawDisk::open(sparse, true, "s"), "", false, "");
  ASSERT_TRUE(disk->write_zeroes(3 * kMiB, 8192, true));  // zeros are still data over a base
  ASSERT_TRUE(disk->write(2 * kMiB + 4096, pattern(100, 2)));
  auto ext = disk->data_extents();
  ASSERT_EQ(ext.size(), 3u);
  EXPECT_EQ(ext[0].offset, 0u);
  EXPECT_EQ(ext[1], (Extent{2 * kMiB + 4096, 4096}));
  EXPECT_EQ(ext[2], (Extent{3 * kMiB, 8192}));
}

TEST_F(CowDiskTest, TemporaryOverlayLeavesNoFile) {
  size_t before = std::distance(std::filesystem::directory_iterator(dir.path()), {});
  auto disk = open();
  ASSERT_TRUE(disk->write(0, pattern(512, 1)));
  EXPECT_EQ(size_t(std::distance(std::filesystem::directory_iterator(dir.path()), {})), before);
}

TEST_F(CowDiskTest, ReadOnlyCowRefusesWrites) {
  auto disk = CowDisk::open(RawDisk::open(base_path, true, "b"), "", true, "ro");
  EXPECT_TRUE(disk->read_only());
  EXPECT_FALSE(disk->write(0, pattern(512, 1)));
  EXPECT_EQ(disk->id(), "ro");
}

TEST(RawDiskOverlay, RawDiskHasNoOverlay) {
  TempDir dir;
  auto disk = RawDisk::open(dir.write("d.img", std::vector<uint8_t>(512, 0)), true, "d");
  EXPECT_THROW(disk->reset_overlay(), Error);
}

}  // namespace
}  // namespace amber::block
