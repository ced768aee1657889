// `amber dump` through amber_main, in process: exit statuses and the one
// error line for bad input (the ELF itself: src/snapshot/elf_core_test.cpp).
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/commands.h"
#include "snapshot/test_util.h"

namespace amber::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace it = image::testing;

struct Run {
  int status;
  std::string out, err;
};

Run dump(const std::vector<std::string>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  std::vector<std::string> argv{"dump"};
  argv.insert(argv.end(), args.begin(), args.end());
  int status = amber_main(argv);
  Run r{status, "", ""};
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

// One line, "amber: error: ...", naming `what`.
void expect_one_error_line(const Run& r, const std::string& what) {
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, StartsWith("amber: error: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(what));
  EXPECT_EQ(r.out, "");
}

struct Fixture {
  it::TempDir dir;
  Mapping ram = it::make_ram(32, {1, 2, 7});
  std::string img = dir.file("vm.amber"), core = dir.file("vm.core");
  Fixture() {
    image::SaveInput in;
    in.machine.children["vcpus"].children["vcpu@0"].props["regs"] = std::vector<uint8_t>(144, 0);
    in.ram.push_back({0, {ram.data(), ram.size()}});
    image::write_image(img, in, {.sync = false});
  }
};

TEST(DumpCommand, WritesTheCoreAndSaysWhat) {
  Fixture f;
  auto r = dump({f.img, "--elf", f.core});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(f.core + ": ELF core of " + f.img + ": 1 vCPU, 1 PT_LOAD, 0.1 MiB of guest RAM"));
  EXPECT_EQ(r.err, "");
  struct stat st {};
  ASSERT_EQ(::stat(f.core.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 4096u + 32 * 4096);
}

TEST(DumpCommand, BadInputIsOneErrorLineAndNoFile) {
  Fixture f;
  expect_one_error_line(dump({f.dir.file("missing.amber"), "--elf", f.core}), "missing.amber: open");

  auto bytes = it::read_file(f.img);
  it::write_bytes_new(f.dir.file("cut.amber"), {bytes.begin(), bytes.begin() + 5000});
  expect_one_error_line(dump({f.dir.file("cut.amber"), "--elf", f.core}), "truncated");

  it::write_bytes_new(f.dir.file("junk.amber"), std::vector<uint8_t>(8192, 0x5a));
  expect_one_error_line(dump({f.dir.file("junk.amber"), "--elf", f.core}), "junk.amber");

  it::flip_byte(f.img, image::Image::open(f.img).ram_regions()[0].file_offset + 7 * 4096);
  expect_one_error_line(dump({f.img, "--elf", f.core}), "checksum mismatch");

  EXPECT_FALSE(std::filesystem::exists(f.core));
  expect_one_error_line(dump({f.img, "--elf", f.dir.file("none/vm.core")}), "none/vm.core");
  EXPECT_EQ(dump({f.img}).status, 2);  // no --elf: usage
}

}  // namespace
}  // namespace amber::cli
