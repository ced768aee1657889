#include "snapshot/atomic_file.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::TempDir;

std::vector<std::string> names_in(const TempDir& dir) {
  std::vector<std::string> out;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) out.push_back(e.path().filename().string());
  return out;
}

void write_committed(const std::string& path, const std::vector<uint8_t>& data) {
  AtomicFile f(path);
  f.write_at(0, data);
  f.commit(/*sync=*/true);
}

TEST(AtomicFile, CommitReplacesTheTargetWithAReadOnlyFileAndLeavesNothingElse) {
  TempDir dir;
  std::string path = dir.file("vm.amber");
  write_committed(path, std::vector<uint8_t>(10, 1));
  write_committed(path, std::vector<uint8_t>(5000, 2));
  EXPECT_EQ(testing::read_file(path), std::vector<uint8_t>(5000, 2));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"vm.amber"});
}

TEST(AtomicFile, AnUncommittedFileLeavesTheOldImageAndNoTemporary) {
  TempDir dir;
  std::string path = dir.file("vm.amber");
  write_committed(path, std::vector<uint8_t>(10, 1));
  {
    AtomicFile f(path);
    f.write_at(0, std::vector<uint8_t>(4096, 2));
  }
  EXPECT_EQ(testing::read_file(path), std::vector<uint8_t>(10, 1));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"vm.amber"});
}

// kill -9 in the middle of a save (issue 11: a hidden full-size temporary
// was left behind): the unnamed O_TMPFILE goes with the process.
TEST(AtomicFile, AProcessKilledMidWriteLeavesTheOldImageAndNoTemporary) {
  TempDir dir;
  std::string path = dir.file("vm.amber");
  write_committed(path, std::vector<uint8_t>(10, 1));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    AtomicFile f(path);
    f.write_at(0, std::vector<uint8_t>(1 << 20, 2));
    ::raise(SIGKILL);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_EQ(testing::read_file(path), std::vector<uint8_t>(10, 1));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"vm.amber"});
}

TEST(AtomicFile, AMissingDirectoryIsAClearError) {
  try {
    AtomicFile f("/nonexistent-dir/vm.amber");
    ADD_FAILURE() << "created a file in a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/vm.amber"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace amber::image
