// Check records (checked_images.h): keyed by everything a change to the
// file changes, best effort, never an error.
#include "snapshot/checked_images.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::TempDir;

FileIdentity identity_of(const std::string& path, uint64_t meta = 42) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return FileIdentity::of(st, meta);
}

std::string make_file(const TempDir& dir, const std::string& name) {
  std::string p = dir.file(name);
  std::ofstream(p) << "image bytes";
  return p;
}

TEST(CheckedImages, RecordsOnlyTheIdentityAdded) {
  TempDir dir;
  CheckedImages records(dir.file("records"), -std::chrono::hours(1));
  auto id = identity_of(make_file(dir, "a.amber"));
  EXPECT_FALSE(records.contains(id));
  records.add(id);
  EXPECT_TRUE(records.contains(id));
  // Each field is part of the key.
  for (auto change : {+[](FileIdentity& i) { i.size++; }, +[](FileIdentity& i) { i.ctime_nsec++; },
                      +[](FileIdentity& i) { i.ctime_sec--; }, +[](FileIdentity& i) { i.metadata_xxh3++; },
                      +[](FileIdentity& i) { i.ino++; }, +[](FileIdentity& i) { i.dev++; }}) {
    FileIdentity other = id;
    change(other);
    EXPECT_FALSE(records.contains(other));
  }
}

TEST(CheckedImages, AWriteToTheFileInvalidatesItsRecord) {
  TempDir dir;
  CheckedImages records(dir.file("records"), -std::chrono::hours(1));
  std::string p = make_file(dir, "a.amber");
  records.add(identity_of(p));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the coarse clock's tick
  std::ofstream(p, std::ios::in | std::ios::out) << "I";
  EXPECT_FALSE(records.contains(identity_of(p)));
}

TEST(CheckedImages, AFileChangedTooRecentlyIsNotRecorded) {
  TempDir dir;
  CheckedImages records(dir.file("records"));  // default settle: one second
  auto id = identity_of(make_file(dir, "fresh.amber"));
  records.add(id);
  EXPECT_FALSE(records.contains(id));
}

TEST(CheckedImages, DisabledOrUnwritableIsNeverAnError) {
  TempDir dir;
  auto id = identity_of(make_file(dir, "a.amber"));
  CheckedImages off;
  EXPECT_FALSE(off.enabled());
  off.add(id);
  EXPECT_FALSE(off.contains(id));
  // The records directory's place is taken by a file.
  std::string blocked = make_file(dir, "not-a-dir");
  CheckedImages bad(blocked + "/records", -std::chrono::hours(1));
  EXPECT_NO_THROW(bad.add(id));
  EXPECT_FALSE(bad.contains(id));
}

// What a warm pool tells its jailed workers (cli/pool.h): no directory,
// the identity held in memory, by copies too; another identity is not.
TEST(CheckedImages, ARememberedIdentityNeedsNoDirectory) {
  TempDir dir;
  auto id = identity_of(make_file(dir, "a.amber"));
  auto other = identity_of(make_file(dir, "b.amber"));
  CheckedImages off;
  EXPECT_FALSE(off.contains(id));
  off.remember(id);
  EXPECT_TRUE(off.contains(id));
  EXPECT_FALSE(off.contains(other));
  CheckedImages copy = off;
  EXPECT_TRUE(copy.contains(id));
  // settled(): a file changed within the settle time is not.
  EXPECT_FALSE(CheckedImages().settled(id));
  EXPECT_TRUE(CheckedImages({}, -std::chrono::hours(1)).settled(id));
}

TEST(CheckedImages, ForThisUserFollowsXdgThenHome) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  std::string saved_xdg = xdg ? xdg : "", saved_home = home ? home : "";
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(CheckedImages::for_this_user().dir(), "/x/cache/amber/checked");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(CheckedImages::for_this_user().dir(), "/home/u/.cache/amber/checked");
  ::unsetenv("HOME");
  EXPECT_FALSE(CheckedImages::for_this_user().enabled());
  if (xdg) ::setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (home) ::setenv("HOME", saved_home.c_str(), 1);
}

}  // namespace
}  // namespace amber::image
