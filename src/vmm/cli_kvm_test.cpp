// The amber binary end to end on bare-metal guests (the vmm KVM suite runs
// it natively and in the sandbox): what a user at a terminal sees.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace {

using namespace std::chrono_literals;

const std::string kAmber = AMBER_BINARY;
const std::string kBare = AMBER_BARE_DIR;

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "amber-cli-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
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

}  // namespace
