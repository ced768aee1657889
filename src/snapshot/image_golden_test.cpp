// Golden images of format 1.0, checked in under testdata/. Every later amber
// must open them and get exactly these contents back (docs/image-format.md,
// "Compatibility"). Never regenerate them to make a test pass: a changed
// reader that cannot read them has broken the format.
//
// They were made once with:
//   AMBER_WRITE_GOLDEN=src/snapshot/testdata
//     build-img/src/snapshot/snapshot_unit_tests --gtest_filter=GoldenImage.Write
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "snapshot/image.h"
#include "snapshot/test_util.h"

namespace amber::image {
namespace {

constexpr uint64_t kCreated = 1700000000;

StateNode golden_machine() {
  StateNode m;
  m.children["config"].props["mem-size"] = {0, 0x80, 0, 0, 0, 0, 0, 0};
  m.children["config"].props["cpus"] = {1};
  for (uint8_t i = 0; i < 16; ++i) m.children["vcpus"].children["vcpu@0"].props["regs"].push_back(i);
  m.children["devices"].children["uart0"].props["lcr"] = {3};
  m.children["devices"].children["uart0"].props["name with space"] = {1};
  m.children["devices"].props["list#count"] = {0, 0, 0, 0};
  return m;
}

uint8_t ram_byte(size_t page, size_t b) {
  if (page == 1 || page == 2) return static_cast<uint8_t>(b * 7 + page);
  if (page == 5) return 0xa5;
  return 0;
}

std::vector<uint8_t> golden_disk() {
  std::vector<uint8_t> d(8192 + 100, 0);
  for (size_t i = 4096; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 3);
  return d;
}

std::string golden_path(const char* dir, bool compressed) {
  return std::string(dir) + (compressed ? "/golden-1.0-zstd.amber" : "/golden-1.0-raw.amber");
}

// Regenerates the golden files; never needed (they must not change). Run with
// AMBER_WRITE_GOLDEN=<dir> --gtest_also_run_disabled_tests.
TEST(GoldenImage, DISABLED_Write) {
  const char* dir = std::getenv("AMBER_WRITE_GOLDEN");
  ASSERT_NE(dir, nullptr) << "set AMBER_WRITE_GOLDEN=<dir>";
  Mapping low = Mapping::anonymous(8 * 4096), high = Mapping::anonymous(4 * 4096);
  for (size_t i = 0; i < low.size(); ++i) low.data()[i] = ram_byte(i / 4096, i % 4096);
  testing::MemDisk disk{golden_disk()};
  SaveInput in;
  in.machine = golden_machine();
  in.ram.push_back({0, {low.data(), low.size()}});
  in.ram.push_back({0x100000, {high.data(), high.size()}});
  in.disks.push_back(disk.in("root", {{4096, 4196}}));
  in.disks[0].id = "golden-disk";
  in.cmdline = "console=ttyS0 golden";
  in.note = "golden 1.0";
  for (bool z : {false, true}) write_image(golden_path(dir, z), in, {.compress = z, .threads = 1, .created_unix = kCreated});
}

class GoldenRead : public ::testing::TestWithParam<bool> {};

TEST_P(GoldenRead, OpensWithExactContents) {
  bool compressed = GetParam();
  std::string path = golden_path(AMBER_SNAPSHOT_TESTDATA, compressed);
  auto bytes = testing::read_file(path);
  ASSERT_GT(bytes.size(), 4096u) << path;
  // Header bytes as specified: magic, major 1, minor 0, header size 128.
  EXPECT_EQ(std::memcmp(bytes.data(), "AMBERIMG\x01\x00\x00\x00\x80\x00\x00\x00", 16), 0);

  auto img = Image::open(path);
  EXPECT_EQ(img.info().major, 1);
  EXPECT_EQ(img.info().minor, 0);
  EXPECT_EQ(img.info().writer, "amber 0.1.0");
  EXPECT_EQ(img.info().created_unix, kCreated);
  EXPECT_EQ(img.info().cmdline, "console=ttyS0 golden");
  EXPECT_EQ(img.info().note, "golden 1.0");
  EXPECT_EQ(img.machine(), golden_machine());

  ASSERT_EQ(img.ram_regions().size(), 2u);
  auto& r0 = img.ram_regions()[0];
  EXPECT_EQ(r0.gpa, 0u);
  EXPECT_EQ(r0.size, 8u * 4096);
  EXPECT_EQ(r0.file_offset, 4096u);
  EXPECT_EQ(r0.compressed(), compressed);
  if (compressed) {
    ASSERT_EQ(r0.chunks.size(), 1u);
    EXPECT_EQ(r0.chunks[0].length, 8u * 4096);
  } else {
    EXPECT_EQ(r0.runs, (std::vector<CheckedExtent>{{4096, 8192, r0.runs[0].xxh3}, {5 * 4096, 4096, r0.runs[1].xxh3}}));
  }
  EXPECT_EQ(img.ram_regions()[1].gpa, 0x100000u);
  Mapping m = img.map_ram(0);
  for (size_t i = 0; i < m.size(); ++i) ASSERT_EQ(m.data()[i], ram_byte(i / 4096, i % 4096)) << i;
  Mapping m1 = img.map_ram(1);
  for (size_t i = 0; i < m1.size(); ++i) ASSERT_EQ(m1.data()[i], 0) << i;

  ASSERT_EQ(img.disks().size(), 1u);
  auto& d = img.disks()[0];
  EXPECT_EQ(d.name, "root");
  EXPECT_EQ(d.id, "golden-disk");
  EXPECT_FALSE(d.read_only);
  auto want = golden_disk();
  ASSERT_EQ(d.size, want.size());
  ASSERT_EQ(d.extents.size(), 1u);
  std::vector<uint8_t> got(want.size());
  ASSERT_EQ(::pread(img.fd(), got.data(), got.size(), static_cast<off_t>(d.file_offset)),
            static_cast<ssize_t>(got.size()));
  EXPECT_EQ(got, want);
  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
}

INSTANTIATE_TEST_SUITE_P(Codecs, GoldenRead, ::testing::Values(false, true),
                         [](auto& info) { return info.param ? std::string("zstd") : std::string("raw"); });

}  // namespace
}  // namespace amber::image
