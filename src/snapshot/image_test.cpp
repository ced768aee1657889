#include "snapshot/image.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::MemDisk;
using testing::TempDir;

struct Fixture {
  TempDir dir;
  Mapping low = testing::make_ram(64, {0, 1, 2, 10, 63});  // 256 KiB
  Mapping high = testing::make_ram(16, {});                // all zero
  MemDisk disk{std::vector<uint8_t>(3 * 4096 + 512)};
  SaveInput in;

  Fixture() {
    for (size_t i = 0; i < 4096; ++i) disk.bytes[4096 + i] = static_cast<uint8_t>(i * 13 + 1);
    for (size_t i = 0; i < 512; ++i) disk.bytes[3 * 4096 + i] = 0x5a;
    in.machine = testing::sample_machine();
    in.ram.push_back({0, {low.data(), low.size()}});
    in.ram.push_back({0x100000000ull, {high.data(), high.size()}});
    // The extent over [0, 8192) has a zero first page: stored, or dropped as zeros.
    in.disks.push_back(disk.in("root", {{0, 8192}, {3 * 4096, 512}}));
    in.disks.back().read_only = true;
    in.cmdline = "console=ttyS0";
    in.note = "unit test";
  }
};

void expect_ram_equal(const Image& img, size_t i, const Mapping& want) {
  Mapping got = img.map_ram(i);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0) << "region " << i;
}

void expect_disk_equal(const Image& img, size_t i, const std::vector<uint8_t>& want) {
  auto& d = img.disks()[i];
  ASSERT_EQ(d.size, want.size());
  std::vector<uint8_t> got(want.size());
  ASSERT_EQ(::pread(img.fd(), got.data(), got.size(), static_cast<off_t>(d.file_offset)),
            static_cast<ssize_t>(got.size()));
  EXPECT_EQ(got, want);
}

TEST(Image, RoundTripRaw) {
  Fixture f;
  auto stats = write_image(f.dir.file("vm.amber"), f.in, {.created_unix = 1234});
  EXPECT_EQ(stats.ram_data_bytes, 5u * 4096);
  EXPECT_EQ(stats.ram_zero_bytes, (59u + 16u) * 4096);
  EXPECT_EQ(stats.disk_data_bytes, 4096u + 512u);

  auto img = Image::open(f.dir.file("vm.amber"));
  EXPECT_EQ(img.machine(), f.in.machine);
  EXPECT_EQ(img.info().major, 1);
  EXPECT_EQ(img.info().minor, 0);
  EXPECT_EQ(img.info().created_unix, 1234u);
  EXPECT_EQ(img.info().cmdline, "console=ttyS0");
  EXPECT_EQ(img.info().note, "unit test");
  EXPECT_EQ(img.info().writer.rfind("amber ", 0), 0u);
  ASSERT_EQ(img.ram_regions().size(), 2u);
  auto& r0 = img.ram_regions()[0];
  EXPECT_EQ(r0.gpa, 0u);
  EXPECT_EQ(r0.size, 64u * 4096);
  EXPECT_EQ(r0.file_offset % 4096, 0u);
  EXPECT_FALSE(r0.compressed());
  // Pages 0-2 coalesce into one run; 10 and 63 stand alone.
  ASSERT_EQ(r0.runs.size(), 3u);
  EXPECT_EQ(r0.runs[0].offset, 0u);
  EXPECT_EQ(r0.runs[0].length, 3u * 4096);
  EXPECT_EQ(r0.runs[2].offset, 63u * 4096);
  EXPECT_EQ(img.ram_regions()[1].gpa, 0x100000000ull);
  EXPECT_TRUE(img.ram_regions()[1].runs.empty());
  expect_ram_equal(img, 0, f.low);
  expect_ram_equal(img, 1, f.high);

  ASSERT_EQ(img.disks().size(), 1u);
  auto& d = img.disks()[0];
  EXPECT_EQ(d.name, "root");
  EXPECT_EQ(d.id, "root-serial");
  EXPECT_TRUE(d.read_only);
  EXPECT_EQ(d.file_offset % 4096, 0u);
  ASSERT_EQ(d.extents.size(), 2u);  // the zero page of the first extent was left out
  EXPECT_EQ(d.extents[0].offset, 4096u);
  expect_disk_equal(img, 0, f.disk.bytes);

  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
}

TEST(Image, CompressedRoundTrip) {
  Fixture f;
  Mapping big = testing::make_ram(1024, {0, 5, 300, 301, 1023});  // 4 MiB: 256 KiB chunks 0, 4, 15
  f.in.ram.push_back({0x200000000ull, {big.data(), big.size()}});
  auto stats = write_image(f.dir.file("z.amber"), f.in, {.compress = true, .level = 3, .threads = 3});
  EXPECT_LT(stats.ram_stored_bytes, stats.ram_data_bytes);
  auto img = Image::open(f.dir.file("z.amber"));
  EXPECT_EQ(img.machine(), f.in.machine);
  auto& r = img.ram_regions()[2];
  EXPECT_TRUE(r.compressed());
  EXPECT_EQ(r.chunk_size, 256u << 10);
  ASSERT_EQ(r.chunks.size(), 3u);
  EXPECT_EQ(r.chunks[2].offset, 15u << 18);
  EXPECT_TRUE(img.ram_regions()[1].chunks.empty());
  expect_ram_equal(img, 0, f.low);
  expect_ram_equal(img, 1, f.high);
  expect_ram_equal(img, 2, big);
  expect_disk_equal(img, 0, f.disk.bytes);  // disks are never compressed
  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
}

TEST(Image, ZeroPagesAreHoles) {
  TempDir dir;
  Mapping ram = testing::make_ram(16384, {7, 9000});  // 64 MiB, 8 KiB of data
  SaveInput in;
  in.ram.push_back({0, {ram.data(), ram.size()}});
  auto stats = write_image(dir.file("sparse.amber"), in);
  EXPECT_GE(stats.file_size, 64u << 20);
  EXPECT_LT(stats.allocated_bytes, 1u << 20);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("sparse.amber").c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20);
  auto img = Image::open(dir.file("sparse.amber"));
  expect_ram_equal(img, 0, ram);
}

TEST(Image, PrivateAnonymousSkipsUnpopulatedPagesWithSameResult) {
  TempDir dir;
  Mapping ram = testing::make_ram(2048, {1, 2, 1500});
  ram.data()[4096 * 700] = 0;  // populated but zero: still a hole
  SaveInput in;
  in.ram.push_back({0, {ram.data(), ram.size()}, true});
  write_image(dir.file("a.amber"), in, {.threads = 2});
  in.ram[0].private_anonymous = false;
  write_image(dir.file("b.amber"), in, {.threads = 1});
  auto a = Image::open(dir.file("a.amber")), b = Image::open(dir.file("b.amber"));
  EXPECT_EQ(a.ram_regions()[0].runs, b.ram_regions()[0].runs);
  EXPECT_EQ(a.ram_regions()[0].runs.size(), 2u);
  expect_ram_equal(a, 0, ram);
}

TEST(Image, ReadingLargeHolesAddsNothingToATmpfsImage) {
  // On tmpfs, a read fault in a file hole allocates a page and adds it to
  // the file; map_ram maps large holes anonymously so the image stays as
  // sparse as it was written (clones on /dev/shm do not grow it).
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm on this machine";
  TempDir dir("/dev/shm");
  Mapping ram = testing::make_ram(16384, {7, 9000});  // 64 MiB, 8 KiB of data
  SaveInput in;
  in.ram.push_back({0, {ram.data(), ram.size()}});
  write_image(dir.file("shm.amber"), in);
  auto blocks = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(dir.file("shm.amber").c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  uint64_t before = blocks();
  auto img = Image::open(dir.file("shm.amber"));
  Mapping m = img.map_ram(0);
  uint64_t sum = 0;
  for (size_t off = 0; off < m.size(); off += 4096) sum += m.data()[off + 1];
  EXPECT_EQ(std::memcmp(m.data(), ram.data(), ram.size()), 0);
  EXPECT_NE(sum, 0u);
  // Only the 2 MiB-aligned neighbourhoods of the two data pages may be read
  // through the file; everything else must not grow it.
  EXPECT_LE(blocks(), before + (4u << 20)) << "reading holes allocated " << (blocks() - before) << " bytes";
  // A hole written by the guest and dropped again (the in-place reset) reads
  // as zeros, like the image.
  m.data()[4096 * 12000] = 0x77;
  ASSERT_EQ(::madvise(m.data(), m.size(), MADV_DONTNEED), 0);
  EXPECT_EQ(m.data()[4096 * 12000], 0);
  EXPECT_EQ(std::memcmp(m.data(), ram.data(), ram.size()), 0);
}

TEST(Image, MapPrivateWritesDoNotReachTheFile) {
  Fixture f;
  write_image(f.dir.file("vm.amber"), f.in);
  auto before = testing::read_file(f.dir.file("vm.amber"));
  {
    auto img = Image::open(f.dir.file("vm.amber"));
    Mapping m = img.map_ram(0);
    std::memset(m.data(), 0xee, m.size());
    Mapping m2 = img.map_ram(0);  // a second clone still sees the image's bytes
    EXPECT_EQ(std::memcmp(m2.data(), f.low.data(), f.low.size()), 0);
  }
  EXPECT_EQ(testing::read_file(f.dir.file("vm.amber")), before);
}

TEST(Image, ProgressReachesTotal) {
  Fixture f;
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  write_image(f.dir.file("p.amber"), f.in, {.progress = [&](uint64_t d, uint64_t t) {
                ++calls;
                EXPECT_GE(d, last_done);
                last_done = d;
                last_total = t;
              }});
  EXPECT_GT(calls, 0);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, f.low.size() + f.high.size() + 8192 + 512);
}

TEST(Image, FailedSaveKeepsThePreviousImage) {
  Fixture f;
  std::string path = f.dir.file("vm.amber");
  write_image(path, f.in);
  auto before = testing::read_file(path);
  f.in.disks[0].read = [](uint64_t, std::span<uint8_t>) { return false; };
  f.in.note = "second";
  EXPECT_THROW(write_image(path, f.in), Error);
  EXPECT_EQ(testing::read_file(path), before);
  EXPECT_EQ(Image::open(path).info().note, "unit test");
  // No temporary file is left behind.
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(f.dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(Image, SaveIntoMissingDirectoryIsError) {
  Fixture f;
  try {
    write_image(f.dir.file("no/such/dir/vm.amber"), f.in);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vm.amber"), std::string::npos) << e.what();
  }
}

TEST(Image, BadInputIsRejectedBeforeWriting) {
  Fixture f;
  auto bad = f.in;
  bad.ram[0].host = bad.ram[0].host.subspan(0, 1000);
  EXPECT_THROW(write_image(f.dir.file("x.amber"), bad), Error);
  bad = f.in;
  bad.disks[0].extents = {{4096, 100}, {0, 10}};  // unsorted
  EXPECT_THROW(write_image(f.dir.file("x.amber"), bad), Error);
  bad = f.in;
  bad.disks[0].extents = {{0, bad.disks[0].size + 1}};
  EXPECT_THROW(write_image(f.dir.file("x.amber"), bad), Error);
  bad = f.in;
  bad.ram[1].gpa = 4096;  // overlaps region 0
  EXPECT_THROW(write_image(f.dir.file("x.amber"), bad), Error);
  bad = f.in;
  bad.ram[1].host = {};
  EXPECT_THROW(write_image(f.dir.file("x.amber"), bad), Error);
  EXPECT_FALSE(std::filesystem::exists(f.dir.file("x.amber")));
}

TEST(Image, StateNamesFdtDislikesSurvive) {
  Fixture f;
  StateNode& odd = f.in.machine.children["odd"];
  for (std::string name : {"", "a/b", "with space", "%", "%41", "@lead", "a@b@c", "#count", "\xff\x01", "x?"}) {
    odd.props[name] = {1, 2, 3};
    odd.children[name].props[name] = {4};
  }
  odd.props["big"] = std::vector<uint8_t>(100000, 7);
  write_image(f.dir.file("odd.amber"), f.in);
  EXPECT_EQ(Image::open(f.dir.file("odd.amber")).machine(), f.in.machine);
}

TEST(Image, EmptyImage) {
  TempDir dir;
  write_image(dir.file("e.amber"), SaveInput{});
  auto img = Image::open(dir.file("e.amber"));
  EXPECT_TRUE(img.ram_regions().empty());
  EXPECT_TRUE(img.disks().empty());
  EXPECT_TRUE(img.verify().ok);
}

TEST(Image, DescribeNamesEverySection) {
  Fixture f;
  write_image(f.dir.file("vm.amber"), f.in);
  auto img = Image::open(f.dir.file("vm.amber"));
  auto text = img.describe(false);
  for (auto s : {"format 1.0", "console=ttyS0", "ram region 0", "run 2", "disk 0", "extent 1", "codec raw", "vcpu@1"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
  auto json = img.describe(true);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  for (auto s : {"\"major\":1", "\"runs\":[", "\"extents\":[", "\"read_only\":true", "\"vcpu@0\""})
    EXPECT_NE(json.find(s), std::string::npos) << s << "\n" << json;
}

TEST(Image, DescribeEscapesTerminalControlBytes) {
  Fixture f;
  f.in.note = "\x1b]0;owned\x07\x1b[2J\\ \xff";
  f.in.machine.children["dev\x1b[31m"].props["p\r"] = {1};
  write_image(f.dir.file("vm.amber"), f.in);
  auto text = Image::open(f.dir.file("vm.amber")).describe(false);
  for (char c : text) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(static_cast<unsigned char>(c));
  EXPECT_NE(text.find("note: \\x1b]0;owned\\x07\\x1b[2J\\\\ \\xff"), std::string::npos) << text;
  EXPECT_NE(text.find("dev\\x1b[31m/"), std::string::npos) << text;
}

TEST(Image, OpenMissingFileIsError) {
  EXPECT_THROW(Image::open("/nonexistent/vm.amber"), Error);
}

}  // namespace
}  // namespace amber::image
