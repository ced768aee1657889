// Golden images of formats 1.0 and 1.1, checked in under testdata/. Every later amber
// must open them and get exactly these contents back (docs/image-format.md,
// "Compatibility"). Never regenerate them to make a test pass: a changed
// reader that cannot read them has broken the format.
//
// They were made once with:
//   AMBER_WRITE_GOLDEN=src/snapshot/testdata
//     build-img/src/snapshot/snapshot_unit_tests --gtest_filter=GoldenImage.Write
// (1.0) and, by the 1.1 writer, --gtest_filter=GoldenImage.DISABLED_WritePacked
// --gtest_also_run_disabled_tests (golden-1.1-packed.amber).
#include <gtest/gtest.h>

#include <cstdlib>
#include <algorithm>
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

// Format 1.1: the same machine and RAM with a 64 MiB disk stored packed.
// Its extents: a sector at the start, two pieces sharing one disk page, an
// extent with an all-zero page inside (split in two), one crossing page
// boundaries at both ends, and the last sector.
constexpr uint64_t kPackedDiskSize = 64ull << 20;
std::vector<Extent> golden_packed_extents() {
  return {{0, 512}, {5 * 4096 + 512, 512}, {5 * 4096 + 2048, 1024}, {1 << 20, 3 * 4096},
          {(32 << 20) - 100, 5000}, {kPackedDiskSize - 512, 512}};
}
uint8_t golden_packed_byte(uint64_t off) {
  if (off >= (1 << 20) + 4096 && off < (1 << 20) + 8192) return 0;  // the zero page
  return static_cast<uint8_t>(off * 5 + (off >> 12)) | 0x80;
}

std::string golden_packed_path(const char* dir) { return std::string(dir) + "/golden-1.1-packed.amber"; }

// Regenerates the 1.1 golden file; never needed (it must not change). Run with
// AMBER_WRITE_GOLDEN=<dir> --gtest_also_run_disabled_tests.
TEST(GoldenImage, DISABLED_WritePacked) {
  const char* dir = std::getenv("AMBER_WRITE_GOLDEN");
  ASSERT_NE(dir, nullptr) << "set AMBER_WRITE_GOLDEN=<dir>";
  Mapping low = Mapping::anonymous(8 * 4096);
  for (size_t i = 0; i < low.size(); ++i) low.data()[i] = ram_byte(i / 4096, i % 4096);
  SaveInput in;
  in.machine = golden_machine();
  in.ram.push_back({0, {low.data(), low.size()}});
  DiskIn d;
  d.name = "data";
  d.id = "golden-packed";
  d.size = kPackedDiskSize;
  d.extents = golden_packed_extents();
  d.read = [](uint64_t off, std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = golden_packed_byte(off + i);
    return true;
  };
  in.disks.push_back(d);
  in.cmdline = "console=ttyS0 golden";
  in.note = "golden 1.1 packed";
  write_image(golden_packed_path(dir), in, {.threads = 1, .created_unix = kCreated});
}

TEST(GoldenImage, PackedOpensWithExactContents) {
  std::string path = golden_packed_path(AMBER_SNAPSHOT_TESTDATA);
  auto bytes = testing::read_file(path);
  ASSERT_GT(bytes.size(), 4096u) << path;
  // magic, major 1, minor 1, header size 128, incompat 1 (packed disks), compat 0.
  EXPECT_EQ(std::memcmp(bytes.data(), "AMBERIMG\x01\x00\x01\x00\x80\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 24), 0);
  // The 64 MiB disk costs its data, not its size.
  EXPECT_LT(bytes.size(), 4096u + 8 * 4096 + 8 * 4096 + 8192);

  auto img = Image::open(path);
  EXPECT_EQ(img.info().major, 1);
  EXPECT_EQ(img.info().minor, 1);
  EXPECT_EQ(img.info().incompat, 1u);
  EXPECT_EQ(img.info().created_unix, kCreated);
  EXPECT_EQ(img.info().note, "golden 1.1 packed");
  EXPECT_EQ(img.machine(), golden_machine());
  ASSERT_EQ(img.ram_regions().size(), 1u);
  Mapping m = img.map_ram(0);
  for (size_t i = 0; i < m.size(); ++i) ASSERT_EQ(m.data()[i], ram_byte(i / 4096, i % 4096)) << i;

  ASSERT_EQ(img.disks().size(), 1u);
  auto& d = img.disks()[0];
  EXPECT_EQ(d.name, "data");
  EXPECT_EQ(d.id, "golden-packed");
  EXPECT_TRUE(d.packed);
  EXPECT_EQ(d.size, kPackedDiskSize);
  // The layout itself, as the 1.1 writer packed it (docs/image-format.md):
  // in disk order, each at its offset within a page, two pieces less than a
  // page apart in one page, the zero page left out.
  std::vector<std::pair<uint64_t, uint64_t>> want{{0, 0},
                                                  {5 * 4096 + 512, 4096 + 512},
                                                  {5 * 4096 + 2048, 4096 + 2048},
                                                  {1 << 20, 2 * 4096},
                                                  {(1 << 20) + 8192, 3 * 4096},
                                                  {(32 << 20) - 100, 4 * 4096 + 4096 - 100},
                                                  {kPackedDiskSize - 512, 7 * 4096 + 4096 - 512}};
  ASSERT_EQ(d.extents.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) {
    EXPECT_EQ(d.extents[j].offset, want[j].first) << j;
    EXPECT_EQ(d.extents[j].stored, want[j].second) << j;
  }
  EXPECT_EQ(d.stored_size, 8u * 4096);
  // Every byte of the disk's data, and the holes around it.
  for (auto& e : golden_packed_extents()) {
    uint64_t from = e.offset >= 4096 ? e.offset - 4096 : 0, to = std::min(e.end() + 4096, kPackedDiskSize);
    std::vector<uint8_t> got(to - from);
    img.read_disk(0, from, got);
    for (uint64_t i = 0; i < got.size(); ++i) {
      uint64_t off = from + i;
      bool data = false;
      for (auto& x : golden_packed_extents()) data |= off >= x.offset && off < x.end();
      ASSERT_EQ(got[i], data ? golden_packed_byte(off) : 0) << "disk offset " << off;
    }
  }
  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
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
  // The 1.0 in-place layout reads through the same extent table.
  EXPECT_FALSE(d.packed);
  EXPECT_EQ(d.stored_size, d.size);
  EXPECT_EQ(d.extents[0].stored, d.extents[0].offset);
  std::vector<uint8_t> via_table(want.size(), 0xee);
  img.read_disk(0, 0, via_table);
  EXPECT_EQ(via_table, want);
  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
}

INSTANTIATE_TEST_SUITE_P(Codecs, GoldenRead, ::testing::Values(false, true),
                         [](auto& info) { return info.param ? std::string("zstd") : std::string("raw"); });

}  // namespace
}  // namespace amber::image
