// Hot-chunk records (hot_chunks.h): what a later resume prefetches. Keyed
// by the image file's identity; anything malformed reads as no record.
#include "snapshot/hot_chunks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::TempDir;

const FileIdentity kId{.dev = 0x801, .ino = 77, .size = 1 << 20, .ctime_sec = 1700000000, .ctime_nsec = 5,
                       .metadata_xxh3 = 0xabcdef};

std::string record_file(const TempDir& dir) { return dir.file("hot") + "/" + CheckedImages::record_name(kId); }

TEST(HotChunks, AStoredRecordLoadsInItsOrderForThatFileOnly) {
  TempDir dir;
  HotChunkRecords records(dir.file("hot"));
  EXPECT_TRUE(records.load(kId).empty());
  std::vector<ChunkRef> hot = {{0, 17}, {0, 3}, {1, 0}, {0, 900}};
  records.store(kId, hot);
  EXPECT_EQ(records.load(kId), hot);
  // A changed file (new ctime, size or metadata) has no record.
  for (auto change : {+[](FileIdentity& i) { i.size++; }, +[](FileIdentity& i) { i.ctime_nsec++; },
                      +[](FileIdentity& i) { i.metadata_xxh3++; }}) {
    FileIdentity other = kId;
    change(other);
    EXPECT_TRUE(records.load(other).empty());
  }
}

TEST(HotChunks, KeepsAtMostTheCap) {
  TempDir dir;
  HotChunkRecords records(dir.file("hot"));
  std::vector<ChunkRef> hot;
  for (uint32_t i = 0; i < kMaxHotChunks + 10; ++i) hot.push_back({0, i});
  records.store(kId, hot);
  auto got = records.load(kId);
  ASSERT_EQ(got.size(), kMaxHotChunks);
  EXPECT_EQ(got.back(), (ChunkRef{0, static_cast<uint32_t>(kMaxHotChunks - 1)}));
}

TEST(HotChunks, MergedAppendsOnlyTheNewChunksInTheirOrderUpToTheCap) {
  std::vector<ChunkRef> known = {{0, 5}, {0, 1}};
  std::vector<ChunkRef> fresh = {{0, 1}, {1, 5}, {0, 9}, {1, 5}, {0, 5}};
  EXPECT_EQ(HotChunkRecords::merged(known, fresh), (std::vector<ChunkRef>{{0, 5}, {0, 1}, {1, 5}, {0, 9}}));
  EXPECT_EQ(HotChunkRecords::merged({}, fresh), (std::vector<ChunkRef>{{0, 1}, {1, 5}, {0, 9}, {0, 5}}));
  EXPECT_EQ(HotChunkRecords::merged(known, {}), known);
  std::vector<ChunkRef> full;
  for (uint32_t i = 0; i < kMaxHotChunks; ++i) full.push_back({0, i});
  EXPECT_EQ(HotChunkRecords::merged(full, {{2, 0}}), full) << "nothing past the cap";
}

TEST(HotChunks, AnyMalformedRecordReadsAsNone) {
  TempDir dir;
  HotChunkRecords records(dir.file("hot"));
  records.store(kId, {{0, 1}, {0, 2}});
  std::ifstream in(record_file(dir));
  std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(good.empty());
  std::string head = good.substr(0, good.find('\n') + 1);
  const std::vector<std::string> bad = {
      "",
      good.substr(0, good.size() - 1),                            // truncated: last line without its newline
      good.substr(0, good.rfind("0 2")),                          // one entry short of the count
      good + "0 3\n",                                             // one more than the count
      head + "0 1\n0 x\n",                                        // not a number
      head + "0 1\n0  2\n",                                       // two spaces
      head + "0 1\n0 4294967296\n",                               // above 32 bits
      "amber-hot 2" + good.substr(std::string("amber-hot 1").size()),  // another version
      head.substr(0, head.size() - 2) + "9999999\n",              // a count above the cap
  };
  for (auto& text : bad) {
    std::ofstream(record_file(dir), std::ios::trunc) << text;
    EXPECT_TRUE(records.load(kId).empty()) << "record: '" << text << "'";
  }
  std::ofstream(record_file(dir), std::ios::trunc) << good;
  EXPECT_EQ(records.load(kId).size(), 2u) << "the good record again";
}

TEST(HotChunks, DisabledOrUnwritableDirectoryIsNoError) {
  HotChunkRecords none;
  EXPECT_FALSE(none.enabled());
  none.store(kId, {{0, 1}});
  EXPECT_TRUE(none.load(kId).empty());
  TempDir dir;
  std::ofstream(dir.file("file")) << "x";  // a file where the directory's parent should be
  HotChunkRecords blocked(dir.file("file") + "/amber/hot");
  blocked.store(kId, {{0, 1}});
  EXPECT_TRUE(blocked.load(kId).empty());
}

}  // namespace
}  // namespace amber::image
