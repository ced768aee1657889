// Lazy restore of zstd RAM (lazy_ram.h): userfaultfd on plain anonymous
// memory, no KVM needed. The VM path (KVM's faults) is covered by the
// compressed-image resume tests in src/vmm/*_kvm_test.cpp.
#include "snapshot/lazy_ram.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "snapshot/image_format.h"
#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::TempDir;

constexpr size_t kChunk = kChunkSize;  // the writer's
constexpr size_t kChunks = 24;
// Chunks holding data; the other 14 are all zero and left out of the file.
const std::vector<size_t> kDataChunks = {0, 1, 3, 5, 6, 7, 12, 13, 20, 23};

std::string userfaultfd_unavailable() {
  std::string why;
  int fd = open_userfaultfd(why);
  if (fd >= 0) ::close(fd);
  return fd >= 0 ? "" : why;
}

struct Saved {
  TempDir dir;
  std::string path = dir.file("vm.amber");
  Mapping ram = Mapping::anonymous(kChunks * kChunk);
  Mapping zero = Mapping::anonymous(2 * kChunk);  // a second region, all zero: no chunk at all

  Saved() {
    std::mt19937_64 rng(42);
    for (size_t c : kDataChunks) {
      uint8_t* p = ram.data() + c * kChunk;
      // Half compressible pattern, half noise, and one zero page inside.
      for (size_t b = 0; b < kChunk / 2; ++b) p[b] = static_cast<uint8_t>(b * 7 + c);
      for (size_t b = kChunk / 2; b < kChunk; b += 8) {
        uint64_t v = rng();
        std::memcpy(p + b, &v, 8);
      }
      std::memset(p + 4096 * 3, 0, 4096);
    }
    SaveInput in;
    in.machine = testing::sample_machine();
    in.ram.push_back({0, {ram.data(), ram.size()}, true});
    in.ram.push_back({0x100000000ull, {zero.data(), zero.size()}, true});
    write_image(path, in, {.compress = true, .sync = false});
  }
};

void expect_same(const Mapping& got, const Mapping& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t off = 0; off < want.size(); off += 4096)
    ASSERT_EQ(std::memcmp(got.data() + off, want.data() + off, 4096), 0) << what << ": page at " << off;
}

TEST(LazyRam, ThreadsTouchingPagesInRandomOrderSeeTheImage) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  ASSERT_EQ(img.ram_regions()[0].chunks.size(), kDataChunks.size());
  auto ram = map_ram_lazily(img, {.background = false});
  ASSERT_TRUE(ram.lazy);
  ASSERT_TRUE(ram.fill);
  ASSERT_EQ(ram.regions.size(), 2u);
  EXPECT_EQ(ram.fill->stats().decoded, 0u) << "nothing is decompressed before a touch";
  // Four threads read every page of region 0 in their own random order.
  std::atomic<size_t> mismatches{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<size_t> pages(kChunks * kChunk / 4096);
      for (size_t i = 0; i < pages.size(); ++i) pages[i] = i;
      std::shuffle(pages.begin(), pages.end(), std::mt19937(t + 1));
      for (size_t p : pages)
        if (std::memcmp(ram.regions[0].data() + p * 4096, s.ram.data() + p * 4096, 4096) != 0) ++mismatches;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0u);
  auto st = ram.fill->stats();
  // Each non-zero chunk decompressed exactly once though four threads
  // faulted on it; the 14 + 2 zero chunks never.
  EXPECT_EQ(st.chunks, kDataChunks.size());
  EXPECT_EQ(st.decoded, kDataChunks.size());
  EXPECT_EQ(st.fault_fills, kDataChunks.size());
  EXPECT_EQ(st.zero_chunks, kChunks - kDataChunks.size() + 2);
  EXPECT_GE(st.faults, kDataChunks.size());
  // With every chunk in, the fill ends and closes its userfaultfd.
  ram.fill->wait();
  EXPECT_TRUE(ram.fill->done());
  expect_same(ram.regions[0], s.ram, "region 0");
  expect_same(ram.regions[1], s.zero, "region 1");
}

TEST(LazyRam, WritesAndKernelCopiesIntoUntouchedChunks) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  auto ram = map_ram_lazily(img, {.background = false});
  ASSERT_TRUE(ram.fill);
  uint8_t* g = ram.regions[0].data();
  // A write fills its chunk first, then lands on top.
  g[5 * kChunk + 100] ^= 0xff;
  EXPECT_EQ(g[5 * kChunk + 100], static_cast<uint8_t>(s.ram.data()[5 * kChunk + 100] ^ 0xff));
  EXPECT_EQ(std::memcmp(g + 5 * kChunk + 4096, s.ram.data() + 5 * kChunk + 4096, kChunk - 4096), 0);
  // A kernel write into guest memory (pread, as virtio-blk does) waits on
  // the userfaultfd like KVM's faults do, instead of failing with EFAULT.
  std::string f = s.dir.file("data");
  int fd = ::open(f.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> bytes(4096, 0xa5);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), 4096);
  ASSERT_EQ(::pread(fd, g + 12 * kChunk + 8192, 4096, 0), 4096) << std::strerror(errno);
  ::close(fd);
  EXPECT_EQ(std::memcmp(g + 12 * kChunk + 8192, bytes.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(g + 12 * kChunk, s.ram.data() + 12 * kChunk, 8192), 0);
  // A zero chunk is plain anonymous memory: written without any fill.
  g[2 * kChunk] = 1;
  EXPECT_EQ(ram.fill->stats().decoded, 2u);
}

// The index of data chunk `c` in region 0's chunk table.
uint32_t table_index(size_t c) {
  return static_cast<uint32_t>(std::find(kDataChunks.begin(), kDataChunks.end(), c) - kDataChunks.begin());
}

bool present(const Mapping& m, size_t chunk) {
  unsigned char v = 0;
  return ::mincore(m.data() + chunk * kChunk, 4096, &v) == 0 && (v & 1);
}

TEST(LazyRam, FirstTouchedListsTheFaultedChunksInFaultOrder) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  auto ram = map_ram_lazily(img, {.background = false});
  ASSERT_TRUE(ram.fill);
  EXPECT_TRUE(ram.fill->first_touched().empty());
  const uint8_t* g = ram.regions[0].data();
  volatile uint8_t sink = 0;
  for (size_t c : {12, 3, 12, 20, 2 /* zero: no fault */, 3}) sink = sink + g[c * kChunk + 4096 * 5];
  std::vector<ChunkRef> want = {{0, table_index(12)}, {0, table_index(3)}, {0, table_index(20)}};
  EXPECT_EQ(ram.fill->first_touched(), want);
}

TEST(LazyRam, PrefetchFillsTheRecordedChunksBeforeAnyTouch) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  // Two real chunks, one named twice, one past the table, one in a region
  // with no chunks, one in no region: only the two are filled.
  LazyOptions opt{.background = false};
  opt.prefetch = {{0, table_index(13)}, {0, table_index(5)}, {0, table_index(13)}, {0, 99}, {1, 0}, {7, 0}};
  auto ram = map_ram_lazily(img, opt);
  ASSERT_TRUE(ram.fill);
  for (int i = 0; i < 500 && ram.fill->stats().prefetch_fills < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto st = ram.fill->stats();
  EXPECT_EQ(st.prefetch_fills, 2u);
  EXPECT_EQ(st.decoded, 2u);
  EXPECT_EQ(st.faults, 0u);
  for (size_t c : kDataChunks) EXPECT_EQ(present(ram.regions[0], c), c == 13 || c == 5) << "chunk " << c;
  // The guest's view is the image's, and what it faulted on is recorded,
  // not what the prefetch brought in.
  expect_same(ram.regions[0], s.ram, "region 0");
  auto touched = ram.fill->first_touched();
  EXPECT_EQ(touched.size(), kDataChunks.size() - 2);
  for (auto& ref : touched) EXPECT_TRUE(ref.chunk != table_index(13) && ref.chunk != table_index(5));
  ram.fill->wait();
}

TEST(LazyRam, BackgroundPassFillsEverythingAndEnds) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  auto ram = map_ram_lazily(img);
  ASSERT_TRUE(ram.fill);
  ram.fill->wait();
  auto st = ram.fill->stats();
  EXPECT_EQ(st.decoded, kDataChunks.size());
  // Every non-zero chunk is present now (mincore), every zero chunk absent.
  std::vector<unsigned char> vec(kChunks * kChunk / 4096);
  ASSERT_EQ(::mincore(ram.regions[0].data(), ram.regions[0].size(), vec.data()), 0);
  for (size_t c = 0; c < kChunks; ++c) {
    bool data = std::find(kDataChunks.begin(), kDataChunks.end(), c) != kDataChunks.end();
    EXPECT_EQ(vec[c * kChunk / 4096] & 1, data ? 1 : 0) << "chunk " << c;
  }
  expect_same(ram.regions[0], s.ram, "region 0");
}

TEST(LazyRam, DestroyedBeforeTheFillEnds) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  Saved s;
  auto img = Image::open(s.path);
  auto ram = map_ram_lazily(img, {.background = false});
  ASSERT_TRUE(ram.fill);
  EXPECT_FALSE(ram.fill->done());
  ram.fill.reset();  // joins the thread, which waits for nothing
}

TEST(LazyRam, CorruptFrameEndsTheProcessNamingTheChunk) {
  if (auto why = userfaultfd_unavailable(); !why.empty()) GTEST_SKIP() << "!!! no userfaultfd here: " << why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Saved s;
  uint64_t frame_off;
  {
    auto img = Image::open(s.path);
    auto& r = img.ram_regions()[0];
    frame_off = r.file_offset + r.chunks[2].frame_offset + r.chunks[2].frame_size / 2;  // chunk 2 is guest chunk 3
  }
  testing::flip_byte(s.path, frame_off);
  // open() does not read frames: the bad one is found when touched.
  auto img = Image::open(s.path);
  EXPECT_EXIT(
      {
        auto ram = map_ram_lazily(img, {.background = false});
        volatile uint8_t* g = ram.regions[0].data();
        (void)g[0];  // chunk 0 is fine
        uint8_t v = g[3 * kChunk + 4096 * 5];  // never returns: the process ends
        std::fprintf(stderr, "read %u: wrong bytes reached the guest\n", v);
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(1), "RAM region 0 chunk 2 .*frame checksum mismatch");
  // The background pass finds it too, untouched.
  EXPECT_EXIT(
      {
        auto ram = map_ram_lazily(img);
        ram.fill->wait();
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(1), "RAM region 0 chunk 2 .*frame checksum mismatch");
}

TEST(LazyRam, FallsBackToEagerWithoutUserfaultfd) {
  Saved s;
  auto img = Image::open(s.path);
  bool asked = false;
  LazyOptions opt;
  opt.open_uffd = [&](std::string& why) {
    asked = true;
    why = "injected: EPERM";
    return -1;
  };
  auto ram = map_ram_lazily(img, opt);
  EXPECT_TRUE(asked);
  EXPECT_FALSE(ram.lazy);
  EXPECT_FALSE(ram.fill);
  ASSERT_EQ(ram.regions.size(), 2u);
  expect_same(ram.regions[0], s.ram, "region 0");
  expect_same(ram.regions[1], s.zero, "region 1");
}

TEST(LazyRam, RawImageNeedsNoFill) {
  TempDir dir;
  Mapping m = testing::make_ram(16, {1, 2});
  SaveInput in;
  in.machine = testing::sample_machine();
  in.ram.push_back({0, {m.data(), m.size()}, true});
  write_image(dir.file("raw.amber"), in, {.sync = false});
  auto img = Image::open(dir.file("raw.amber"));
  LazyOptions opt;
  opt.open_uffd = [](std::string&) -> int { ADD_FAILURE() << "a raw image asked for a userfaultfd"; return -1; };
  auto ram = map_ram_lazily(img, opt);
  EXPECT_FALSE(ram.fill);
  expect_same(ram.regions[0], m, "raw region");
}

}  // namespace
}  // namespace amber::image
