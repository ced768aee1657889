#include "exec/initramfs.h"

#include <gtest/gtest.h>

#include <map>

#include "exec/cpio.h"

namespace amber::exec {
namespace {

TEST(ExecInitramfs, HoldsTheInitTheConfigAndTheConsole) {
  ExecConfig c;
  c.root_tag = "amber-root";
  c.cwd = "/work";
  c.argv = {"sh", "-c", "exit 7"};
  auto entries = parse_cpio(build_exec_initramfs(c));
  std::map<std::string, CpioEntry> by_name;
  for (auto& e : entries) by_name[e.name] = e;
  ASSERT_EQ(by_name.count("init"), 1u);
  auto& init = by_name["init"];
  EXPECT_EQ(init.mode, kCpioFile | 0755);
  ASSERT_GT(init.data.size(), 64u);
  // A static x86-64 ELF executable: magic, ELFCLASS64, ET_EXEC, EM_X86_64,
  // and no PT_INTERP (it runs before any dynamic loader exists).
  EXPECT_EQ(std::string(init.data.begin(), init.data.begin() + 4), "\x7f" "ELF");
  EXPECT_EQ(init.data[4], 2);
  EXPECT_EQ(init.data[16] | init.data[17] << 8, 2);
  EXPECT_EQ(init.data[18] | init.data[19] << 8, 62);
  EXPECT_EQ(std::string(init.data.begin(), init.data.end()).find("/lib64/ld-linux"), std::string::npos);
  EXPECT_LT(init.data.size(), 64u << 10) << "amber-init should stay small";
  ASSERT_EQ(by_name.count("amber-exec.conf"), 1u);
  EXPECT_EQ(parse_exec_config(by_name["amber-exec.conf"].data), c);
  ASSERT_EQ(by_name.count("dev/console"), 1u);
  EXPECT_EQ(by_name["dev/console"].mode, kCpioCharDev | 0600);
  EXPECT_EQ(by_name["dev/console"].rdev_major, 5u);
  EXPECT_EQ(by_name["dev/console"].rdev_minor, 1u);
  // The directory comes before what is in it, as the kernel needs.
  EXPECT_EQ(entries[0].name, "dev");
}

}  // namespace
}  // namespace amber::exec
