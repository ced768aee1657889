#include "snapshot/image.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <filesystem>

#include <fmt/core.h>

#include "snapshot/image_format.h"
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
  std::vector<uint8_t> got(want.size(), 0xee);
  img.read_disk(i, 0, got);
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
  EXPECT_EQ(img.info().minor, 1);
  EXPECT_EQ(img.info().incompat, kIncompatPackedDisks);  // it has a (packed) disk
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
  // Packed: the data one page after another, each at its offset in the page.
  EXPECT_TRUE(d.packed);
  EXPECT_EQ(d.extents[0].stored, 0u);
  EXPECT_EQ(d.extents[1].offset, 3u * 4096);
  EXPECT_EQ(d.extents[1].stored, 4096u);
  EXPECT_EQ(d.stored_size, 4096u + 512u);
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

// A 10 GiB sparse disk with ~16 MiB of data at scattered offsets. The
// generator gives every byte a non-zero value except in `zero`, so nothing
// of 10 GiB is ever held in memory.
struct SparseDisk {
  static constexpr uint64_t kSize = 10ull << 30;
  std::vector<Extent> extents;
  Extent zero;  // one all-zero page inside an extent: left out as a hole

  SparseDisk() {
    const uint64_t stride = (kSize / 240) & ~uint64_t(4095);
    for (uint64_t i = 0; i < 240; ++i) extents.push_back({i * stride + (i == 7 ? 4096 : 0), 48 << 10});
    // Odd shapes: sector-sized pieces inside one page (they share a file
    // page), an extent not page aligned at either end, one larger than a
    // 4 MiB checksum piece, an extent holding a zero page, the last sector.
    extents.push_back({4 * stride + 200 * 4096 + 512, 512});
    extents.push_back({4 * stride + 200 * 4096 + 2560, 1024});
    extents.push_back({9 * stride + 1000 * 4096 + 100 * 512, 3 * 4096 + 7 * 512});
    extents.push_back({100 * stride + (8 << 20), (9 << 19) + 100});  // 4.5 MiB: two checksum pieces
    extents.push_back({200 * stride + (1 << 20), 3 * 4096});
    zero = {200 * stride + (1 << 20) + 4096, 4096};
    extents.push_back({kSize - 512, 512});
    std::sort(extents.begin(), extents.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
  }
  static uint8_t pattern(uint64_t off) { return static_cast<uint8_t>((off * 2654435761ull) >> 13) | 1; }
  uint8_t data_byte(uint64_t off) const { return off >= zero.offset && off < zero.end() ? 0 : pattern(off); }
  uint8_t byte(uint64_t off) const {
    auto it = std::upper_bound(extents.begin(), extents.end(), off, [](uint64_t o, const Extent& e) { return o < e.end(); });
    return it != extents.end() && it->offset <= off ? data_byte(off) : 0;
  }
  uint64_t data_bytes() const {
    uint64_t n = 0;
    for (auto& e : extents) n += e.length;
    return n - zero.length;
  }
  DiskIn in() const {
    DiskIn d;
    d.name = "big";
    d.id = "big-serial";
    d.size = kSize;
    d.extents = extents;
    d.read = [this](uint64_t off, std::span<uint8_t> out) {
      for (size_t i = 0; i < out.size(); ++i) out[i] = data_byte(off + i);  // only called inside extents
      return true;
    };
    return d;
  }
};

// Issue 11 ("Crash safety"): a sparse 10 GiB disk used to give an image of
// 10.7 GB apparent size (the disk at its offsets, holes as file holes), which
// any non-sparse copy (scp, HTTP) moved in full. Packed, the image is about
// as large as its data.
TEST(Image, ASparseTenGiBDiskIsPackedCloseToItsData) {
  TempDir dir;
  SparseDisk disk;
  Mapping ram = testing::make_ram(16, {0, 3});
  SaveInput in;
  in.ram.push_back({0, {ram.data(), ram.size()}});
  in.disks.push_back(disk.in());
  std::string path = dir.file("big.amber");
  auto t0 = std::chrono::steady_clock::now();
  auto stats = write_image(path, in);
  double save_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(stats.disk_data_bytes, disk.data_bytes());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  EXPECT_EQ(size, stats.file_size);

  t0 = std::chrono::steady_clock::now();
  auto img = Image::open(path);
  double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(img.disks().size(), 1u);
  auto& d = img.disks()[0];
  EXPECT_TRUE(d.packed);
  EXPECT_EQ(d.size, SparseDisk::kSize);
  std::vector<uint8_t> head(4096);
  ASSERT_EQ(::pread(img.fd(), head.data(), head.size(), 0), 4096);
  uint64_t metadata = decode_header(head, path).metadata_size;
  // Header page + RAM region + data + 1 MiB (page alignment of the extents)
  // + metadata: nowhere near 10 GiB.
  uint64_t bound = 4096 + ram.size() + disk.data_bytes() + (1u << 20) + round_up_page(metadata);
  EXPECT_LT(size, bound) << "apparent size " << size << " for " << disk.data_bytes() << " data bytes";
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, size + 4096);  // and nothing is sparse-hidden beyond it
  std::cout << "[ figures ] 10 GiB disk, " << disk.data_bytes() << " data bytes in " << d.extents.size()
            << " extents: apparent " << size << " bytes, allocated " << st.st_blocks * 512 << ", metadata "
            << metadata << "; save " << save_s << " s, open " << open_s << " s\n";

  // Every extent reads back byte-exact through the table (checksums checked).
  for (auto& e : disk.extents) {
    std::vector<uint8_t> got(e.length);
    img.read_disk(0, e.offset, got);
    for (uint64_t i = 0; i < e.length; ++i)
      ASSERT_EQ(got[i], disk.data_byte(e.offset + i)) << "disk offset " << e.offset + i;
  }
  // Holes: around each odd extent, within shared pages, the zero page, the
  // start and the end, and a read spanning holes and data.
  for (auto& e : disk.extents) {
    for (uint64_t off : {e.offset >= 700 ? e.offset - 700 : 0, e.end() - 1}) {
      std::vector<uint8_t> got(std::min<uint64_t>(1400, SparseDisk::kSize - off));
      img.read_disk(0, off, got);
      for (uint64_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], disk.byte(off + i)) << "disk offset " << off + i;
    }
  }
  std::vector<uint8_t> span(64 << 10);
  for (uint64_t off : {uint64_t(0), SparseDisk::kSize / 2 + 12345, disk.zero.offset - 100, SparseDisk::kSize - span.size()}) {
    img.read_disk(0, off, span);
    for (uint64_t i = 0; i < span.size(); ++i) ASSERT_EQ(span[i], disk.byte(off + i)) << "disk offset " << off + i;
  }
  EXPECT_THROW(img.read_disk(0, SparseDisk::kSize - 1, span), Error);  // beyond the disk
  auto v = img.verify();
  EXPECT_TRUE(v.ok) << v.first_bad;
}

// A byte flipped in a packed extent, or in the zero bytes that share a page
// with packed extents, is found by verify (naming the section), and the
// extent's data is refused by read_disk.
TEST(Image, ACorruptPackedDiskIsNamedAndRefused) {
  TempDir dir;
  SparseDisk disk;
  SaveInput in;
  in.disks.push_back(disk.in());
  std::string path = dir.file("big.amber");
  write_image(path, in);
  auto img = Image::open(path);
  auto& d = img.disks()[0];
  // The 1 KiB piece, which shares a disk page (and so a file page) with the
  // 512-byte piece before it.
  size_t j = 0;
  while (j < d.extents.size() && d.extents[j].length != 1024) ++j;
  ASSERT_LT(j, d.extents.size());
  ASSERT_EQ(d.extents[j - 1].length, 512u);
  ASSERT_EQ(d.extents[j - 1].stored / 4096, d.extents[j].stored / 4096) << "not packed into one page";
  uint64_t at = d.file_offset + d.extents[j].stored + 100;
  testing::flip_byte(path, at);
  auto v = Image::open(path).verify();
  EXPECT_FALSE(v.ok);
  auto name = fmt::format("disk 0 ('big') extent {}", j);
  EXPECT_NE(v.first_bad.find(name + " (file offset " + std::to_string(at - 100)), std::string::npos) << v.first_bad;
  EXPECT_NE(v.first_bad.find("checksum mismatch"), std::string::npos) << v.first_bad;
  std::vector<uint8_t> buf(4096);
  try {
    Image::open(path).read_disk(0, d.extents[j].offset / 4096 * 4096, buf);
    ADD_FAILURE() << "read a corrupt extent";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
  testing::flip_byte(path, at);  // back
  EXPECT_TRUE(Image::open(path).verify().ok);
  // The gap kept between the two pieces in their shared page.
  uint64_t gap = d.file_offset + d.extents[j - 1].stored + d.extents[j - 1].length + 3;
  ASSERT_LT(gap, d.file_offset + d.extents[j].stored);
  testing::flip_byte(path, gap);
  v = Image::open(path).verify();
  EXPECT_NE(v.first_bad.find(fmt::format("unused bytes after disk 0 ('big') extent {} (file offset {}): not zero", j - 1, gap)),
            std::string::npos)
      << v.first_bad;
  testing::flip_byte(path, gap);
  // The padding before an extent that starts mid-page (it keeps its
  // offset within the page).
  size_t k = 0;
  while (k < d.extents.size() && d.extents[k].length != 3 * 4096 + 7 * 512) ++k;
  ASSERT_LT(k, d.extents.size());
  ASSERT_NE(d.extents[k].stored % 4096, 0u);
  uint64_t pad = d.file_offset + d.extents[k].stored - 1;
  testing::flip_byte(path, pad);
  v = Image::open(path).verify();
  EXPECT_NE(v.first_bad.find(fmt::format("unused bytes after disk 0 ('big') extent {} (file offset {})", k - 1, pad)),
            std::string::npos)
      << v.first_bad;
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

// On tmpfs a guest's first touch of a small hole (left mapped from the file)
// adds a page to the image file, so the file no longer allocates exactly the
// blocks amber wrote and map_ram reads its holes to prove them zero. A check
// record vouches for the unchanged file, holes included: clones of an image
// on /dev/shm must not pay that pass once an earlier clone touched a hole.
TEST(Image, ACheckRecordAlsoVouchesForHolesATmpfsImageGrewInto) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm on this machine";
  TempDir dir("/dev/shm");
  std::vector<size_t> pages;
  for (size_t p = 0; p < 4096; p += 8) pages.push_back(p);  // 16 MiB, a 28 KiB hole after each data page
  Mapping ram = testing::make_ram(4096, pages);
  SaveInput in;
  in.ram.push_back({0, {ram.data(), ram.size()}});
  const std::string path = dir.file("shm.amber");
  write_image(path, in);
  CheckedImages records(dir.file("records"), -std::chrono::hours(1));
  auto blocks = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  const uint64_t written = blocks();
  {
    auto first = Image::open(path);
    first.use_check_records(records);
    Mapping m = first.map_ram(0);
    EXPECT_EQ(first.holes_checked(), 0u) << "a fresh image allocates exactly what was written";
    for (size_t off = 0; off < m.size(); off += 4096) m.data()[off + 5] = 1;  // the guest writes every page
  }
  ASSERT_GT(blocks(), written) << "tmpfs no longer adds touched holes to the file; this test has nothing to check";
  auto second = Image::open(path);
  second.use_check_records(records);
  Mapping m = second.map_ram(0);
  EXPECT_EQ(second.runs_checked(), 0u);
  EXPECT_EQ(second.holes_checked(), 0u) << "the record did not vouch for the holes";
  EXPECT_EQ(std::memcmp(m.data(), ram.data(), ram.size()), 0);
  // Without the record the holes are read, found zero, and the image maps.
  auto unvouched = Image::open(path);
  Mapping u = unvouched.map_ram(0);
  EXPECT_GT(unvouched.holes_checked(), 0u);
  EXPECT_EQ(std::memcmp(u.data(), ram.data(), ram.size()), 0);
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
  EXPECT_EQ(img.info().incompat, 0u);  // no disk: a 1.0 reader can still open it
  EXPECT_TRUE(img.ram_regions().empty());
  EXPECT_TRUE(img.disks().empty());
  EXPECT_TRUE(img.verify().ok);
}

TEST(Image, DescribeNamesEverySection) {
  Fixture f;
  write_image(f.dir.file("vm.amber"), f.in);
  auto img = Image::open(f.dir.file("vm.amber"));
  auto text = img.describe(false);
  for (auto s : {"format 1.1", "incompat 0x1 (packed-disks)", "console=ttyS0", "ram region 0", "run 2", "disk 0",
                 "packed layout", "stored 4608 bytes", "extent 1: offset 12288, 512 bytes at +4096", "codec raw",
                 "vcpu@1"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
  auto json = img.describe(true);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  for (auto s : {"\"major\":1", "\"minor\":1,\"incompat\":1", "\"runs\":[", "\"layout\":\"packed\"",
                 "\"stored_size\":4608,\"extents\":[", "\"offset\":12288,\"length\":512,\"stored_offset\":4096",
                 "\"read_only\":true", "\"vcpu@0\""})
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
