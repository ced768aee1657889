// The amber binary end to end on bare-metal guests (the vmm KVM suite runs
// it natively and in the sandbox): what a user at a terminal sees.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "snapshot/image.h"
#include "vmm/kvm_test_temp_dir.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace {

using namespace std::chrono_literals;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;

// The tests' temporary directories: amber-cli-XXXXXX.
struct TempDir : amber::vmm::testing::TempDir {
  TempDir() : amber::vmm::testing::TempDir("amber-cli") {}
};

// Issue 11: a resumed VM is a live view of its image (RAM is MAP_PRIVATE of
// it), so a process writing the file would change the guest's memory. The
// read lease stops the VM first, with an error naming the image, and the
// writer goes on once amber has exited. The saved image is read-only.
TEST(Cli, WritingTheImageOfARunningVmStopsItWithAClearError) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = dir.path + "/vm.amber";
  auto boot = lt::run({kAmber, "run", "--bare", kBare + "/idle.bin", "--save", img}, 60s);
  ASSERT_EQ(boot.status, lt::ExitStatus::exited(0)) << boot.transcript();
  struct stat st {};
  ASSERT_EQ(::stat(img.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);

  lt::Process vm({kAmber, "resume", img});
  ASSERT_TRUE(vm.expect("resumed and idle", 60s));
  auto t0 = std::chrono::steady_clock::now();
  int fd = ::open(img.c_str(), O_WRONLY | O_CLOEXEC);  // held back until amber lets go
  double held_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd >= 0) ::close(fd);
  EXPECT_EQ(vm.wait(30s), lt::ExitStatus::exited(1)) << vm.transcript();
  EXPECT_NE(vm.err().find("another process is writing or truncating the image this VM runs from"),
            std::string::npos)
      << vm.transcript();
  EXPECT_LT(held_s, 20.0) << "the writer waited for the kernel's lease-break timeout, not for amber";
}

// Issue 11: RAM runs are mapped from the image, so before this a byte
// flipped in one reached the resumed guest; only `verify` noticed. Now the
// resume compares every run with its checksum first and refuses, and an
// intact image that `verify` read in full gets a check record
// (docs/image-format.md, "Reading").
TEST(Cli, AResumeRefusesAByteFlippedInARamRunAndVerifyRecordsAnIntactImage) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = dir.path + "/vm.amber", cache = dir.path + "/cache";
  auto boot = lt::run({kAmber, "run", "--bare", kBare + "/idle.bin", "--save", img}, 60s);
  ASSERT_EQ(boot.status, lt::ExitStatus::exited(0)) << boot.transcript();

  std::this_thread::sleep_for(1100ms);  // records only files whose ctime is a second old
  auto ok = lt::run({"/usr/bin/env", "XDG_CACHE_HOME=" + cache, kAmber, "verify", img}, 60s);
  ASSERT_EQ(ok.status, lt::ExitStatus::exited(0)) << ok.transcript();
  struct stat st {};
  ASSERT_EQ(::stat(img.c_str(), &st), 0);
  EXPECT_TRUE(std::filesystem::exists(fmt::format("{}/amber/checked/{:x}-{:x}", cache, st.st_dev, st.st_ino)))
      << "verify found the image intact but left no check record";

  // Flip a byte in the first RAM run (every run is checked alike).
  auto image = amber::image::Image::open(img);
  ASSERT_FALSE(image.ram_regions().empty());
  ASSERT_FALSE(image.ram_regions()[0].runs.empty());
  uint64_t off = image.ram_regions()[0].file_offset + image.ram_regions()[0].runs[0].offset + 3;
  int fd = ::open(img.c_str(), O_RDWR | O_CLOEXEC);  // 0444, but the suite runs as root
  ASSERT_GE(fd, 0) << std::strerror(errno);
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(off)), 1);
  b ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(off)), 1);
  ::close(fd);

  auto resumed = lt::run({"/usr/bin/env", "XDG_CACHE_HOME=" + cache, kAmber, "resume", img}, 60s);
  EXPECT_EQ(resumed.status, lt::ExitStatus::exited(1)) << resumed.transcript();
  EXPECT_NE(resumed.err.find("RAM region 0 run 0"), std::string::npos) << resumed.transcript();
  EXPECT_NE(resumed.err.find("checksum mismatch"), std::string::npos) << resumed.transcript();
  EXPECT_EQ(resumed.out.find("resumed and idle"), std::string::npos) << "the guest ran: " << resumed.transcript();
}

// Issue 14: `amber dump` of a saved guest opens in the real gdb, which shows
// the vCPU's saved RIP and, at it, the guest's own code. idle.bin is loaded
// at 1 MiB and saved right after its save doorbell's OUT, so the bytes gdb
// reads at RIP are those of idle.bin at RIP - 1 MiB. gdb runs where the test
// runs: in the sandbox, tools/test.sh carries /usr/bin/gdb and the Python
// standard library gdb needs to start (docs/testing.md).
TEST(Cli, DumpOfASavedGuestShowsItsRipAndCodeInGdb) {
  const std::string gdb = "/usr/bin/gdb";
  if (::access(gdb.c_str(), X_OK) != 0)
    GTEST_SKIP() << "!!! " << gdb << " is missing here (tools/setup.sh installs it; tools/test.sh carries it into "
                 << "the sandbox)";
  auto probe = lt::run({gdb, "-batch", "-nx", "-ex", "show version"}, 60s);
  if (probe.status != lt::ExitStatus::exited(0))
    GTEST_SKIP() << "!!! " << gdb << " does not start here (in the sandbox it needs /usr/share/gdb and its Python "
                 << "standard library carried, as tools/test.sh does):\n" << probe.transcript();
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = dir.path + "/vm.amber", core = dir.path + "/vm.core", bin = kBare + "/idle.bin";
  auto boot = lt::run({kAmber, "run", "--bare", bin, "--save", img}, 60s);
  ASSERT_EQ(boot.status, lt::ExitStatus::exited(0)) << boot.transcript();
  auto dump = lt::run({kAmber, "dump", img, "--elf", core}, 60s);
  ASSERT_EQ(dump.status, lt::ExitStatus::exited(0)) << dump.transcript();
  EXPECT_NE(dump.out.find("1 vCPU"), std::string::npos) << dump.transcript();

  auto g = lt::run({gdb, "-batch", "-nx", "-ex", "info registers rip", "-ex", "x/8xb $pc", "-ex", "info threads",
                    "-c", core},
                   60s);
  ASSERT_EQ(g.status, lt::ExitStatus::exited(0)) << g.transcript();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(g.out, m, std::regex("rip +0x([0-9a-f]+)"))) << g.transcript();
  uint64_t rip = std::stoull(m[1].str(), nullptr, 16);
  std::ifstream in(bin, std::ios::binary);
  std::vector<uint8_t> code((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr uint64_t kLoad = 0x100000;  // --bare guests are loaded and entered at 1 MiB
  ASSERT_GE(rip, kLoad) << g.transcript();
  ASSERT_LE(rip - kLoad + 8, code.size()) << "RIP outside idle.bin\n" << g.transcript();
  // The save doorbell is idle.bin's first `out %eax,(%dx)` (0xef); the vCPU
  // was saved with that OUT completed, so RIP is the byte after it.
  auto out_insn = std::find(code.begin(), code.end(), uint8_t{0xef});
  ASSERT_NE(out_insn, code.end());
  EXPECT_EQ(rip, kLoad + static_cast<uint64_t>(out_insn - code.begin()) + 1) << g.transcript();
  std::string want = fmt::format("{:#x}:", rip);
  for (size_t i = 0; i < 8; ++i) want += fmt::format("\t{:#04x}", code[rip - kLoad + i]);
  EXPECT_NE(g.out.find(want), std::string::npos) << "want '" << want << "'\n" << g.transcript();
  EXPECT_NE(g.out.find("LWP 1"), std::string::npos) << g.transcript();
}

}  // namespace

namespace {

// Issue 12 goal 4 (REAP, snapshot/hot_chunks.h): the first resume of a
// compressed image records the chunks its guest faulted in first, and the
// next resume of the same file brings those in ahead of the guest, on a
// thread under the fill role's seccomp filter. cowstorm reads back all
// 32 MiB it wrote before its save, so the guest checks every byte either way.
TEST(Cli, ASecondResumeOfACompressedImagePrefetchesWhatTheFirstTouched) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string img = dir.path + "/vm.amber", cache = dir.path + "/cache";
  auto saved = lt::run({kAmber, "run", "--bare", kBare + "/cowstorm.bin", "--save", img, "--compress"}, 120s);
  ASSERT_EQ(saved.status, lt::ExitStatus::exited(0)) << saved.transcript();
  // The records go to this test's own cache directory (amber inherits it).
  struct CacheHome {
    std::optional<std::string> old;
    explicit CacheHome(const std::string& dir) {
      if (const char* o = std::getenv("XDG_CACHE_HOME")) old = o;
      ::setenv("XDG_CACHE_HOME", dir.c_str(), 1);
    }
    ~CacheHome() { old ? ::setenv("XDG_CACHE_HOME", old->c_str(), 1) : ::unsetenv("XDG_CACHE_HOME"); }
  } home(cache);

  // The first resume without the background pass: whether it reaches a
  // chunk before the guest does is a race (seen: CI's first resume faulted
  // on nothing and left no record), so here every touch is a fault.
  ::setenv("AMBER_TEST_LAZY_BACKGROUND", "0", 1);
  auto first = lt::run({kAmber, "resume", img, "-v"}, 120s);
  ::unsetenv("AMBER_TEST_LAZY_BACKGROUND");
  ASSERT_EQ(first.status, lt::ExitStatus::exited(0)) << first.transcript();
  EXPECT_NE(first.out.find("cowstorm ok"), std::string::npos) << first.transcript();
  EXPECT_NE(first.err.find("no record of the chunks an earlier resume touched first"), std::string::npos)
      << first.transcript();
  // The record: one file, a header and one line per chunk.
  std::vector<std::filesystem::path> records;
  for (auto& e : std::filesystem::directory_iterator(cache + "/amber/hot")) records.push_back(e.path());
  ASSERT_EQ(records.size(), 1u);
  std::ifstream in(records[0]);
  size_t lines = std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  ASSERT_GE(lines, 2u) << "a header and at least one chunk";

  auto second = lt::run({kAmber, "resume", img, "-v"}, 120s);
  ASSERT_EQ(second.status, lt::ExitStatus::exited(0)) << second.transcript();
  EXPECT_NE(second.out.find("cowstorm ok"), std::string::npos) << second.transcript();
  EXPECT_NE(second.err.find(fmt::format("prefetching the {} chunks an earlier resume touched first", lines - 1)),
            std::string::npos)
      << second.transcript();
  EXPECT_EQ(second.err.find("seccomp"), std::string::npos) << second.transcript();
}

}  // namespace
