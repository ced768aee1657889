#include "virtio/disk/disk_spec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/disk/cow_disk.h"
#include "virtio/testing/temp_dir.h"

namespace amber::block {
namespace {

using testing::TempDir;

TEST(DiskSpec, ParsesAllForms) {
  EXPECT_EQ(DiskSpec::parse("a.img"), (DiskSpec{"a.img", false, "", false, ""}));
  EXPECT_EQ(DiskSpec::parse("a.img,ro"), (DiskSpec{"a.img", true, "", false, ""}));
  EXPECT_EQ(DiskSpec::parse("/x/a.img,id=root,cow"), (DiskSpec{"/x/a.img", false, "root", true, ""}));
  EXPECT_EQ(DiskSpec::parse("a.img,cow=/tmp/o.cow,ro"), (DiskSpec{"a.img", true, "", true, "/tmp/o.cow"}));
}

TEST(DiskSpec, RejectsBadSyntax) {
  for (const char* bad : {"", ",ro", "a.img,rw", "a.img,ro=1", "a.img,id", "a.img,id=", "a.img,cow=", "a.img,ro,ro",
                          "a.img,", "a.img,id=a,id=b"})
    EXPECT_THROW(DiskSpec::parse(bad), UsageError) << bad;
  try {
    DiskSpec::parse("a.img,bogus");
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option 'bogus'"), std::string::npos);
  }
}

// Opens `spec` and returns the error message ("" when it opened).
std::string open_error(const std::string& spec) {
  try {
    open_disk(DiskSpec::parse(spec));
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(OpenDisk, ErrorsNameTheReason) {
  TempDir dir;
  EXPECT_NE(open_error(dir.file("missing.img")).find("no such file"), std::string::npos);
  EXPECT_NE(open_error(dir.path()).find("is a directory"), std::string::npos);
  EXPECT_NE(open_error(dir.path() + ",ro").find("is a directory"), std::string::npos);
  EXPECT_NE(open_error(dir.write("empty.img", {})).find("is empty"), std::string::npos);
  EXPECT_NE(open_error(dir.write("odd.img", std::vector<uint8_t>(1000))).find("not a multiple of 512"), std::string::npos);
}

TEST(OpenDisk, OpensRawAndCow) {
  TempDir dir;
  std::string p = dir.write("disk.img", std::vector<uint8_t>(4096, 1));
  auto raw = open_disk(DiskSpec::parse(p));
  EXPECT_EQ(raw->id(), "disk.img");
  EXPECT_FALSE(raw->read_only());
  auto cow = open_disk(DiskSpec::parse(p + ",cow,id=root"));
  EXPECT_EQ(cow->id(), "root");
  EXPECT_NE(dynamic_cast<CowDisk*>(cow.get()), nullptr);
  std::vector<uint8_t> z(512, 0);
  EXPECT_TRUE(cow->write(0, z));
  EXPECT_EQ(TempDir::read_all(p), std::vector<uint8_t>(4096, 1));
}

TEST(OpenDisk, ReadOnlyFileNeedsRoOrCow) {
  TempDir dir;
  std::string p = dir.write("ro.img", std::vector<uint8_t>(4096, 1), 0444);
  EXPECT_NO_THROW(open_disk(DiskSpec::parse(p + ",ro")));
  EXPECT_NO_THROW(open_disk(DiskSpec::parse(p + ",cow")));
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses file permissions; see PermissionErrorsAsNobody";
  EXPECT_NE(open_error(p).find("add ,ro or ,cow"), std::string::npos);
}

// Root ignores permission bits, so the permission checks run in a child that
// drops to an unprivileged user.
TEST(OpenDisk, PermissionErrorsAsNobody) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  std::string ro = dir.write("ro.img", std::vector<uint8_t>(4096, 1), 0444);
  std::string none = dir.write("none.img", std::vector<uint8_t>(4096, 1), 0000);
  auto as_nobody = [](const std::string& spec) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
    fprintf(stderr, "%s\n", open_error(spec).c_str());
    _exit(0);
  };
  EXPECT_EXIT(as_nobody(ro), ::testing::ExitedWithCode(0), "permission denied for writing \\(add ,ro or ,cow");
  EXPECT_EXIT(as_nobody(none + ",ro"), ::testing::ExitedWithCode(0), "none.img': permission denied");
}

TEST(OpenDisk, CowOverlayMismatchIsReported) {
  TempDir dir;
  std::string a = dir.write("a.img", std::vector<uint8_t>(4096, 1));
  std::string b = dir.write("b.img", std::vector<uint8_t>(8192, 1));
  std::string ov = dir.file("o.cow");
  open_disk(DiskSpec::parse(a + ",cow=" + ov));
  EXPECT_NE(open_error(b + ",cow=" + ov).find("does not match its base"), std::string::npos);
}

}  // namespace
}  // namespace amber::block
