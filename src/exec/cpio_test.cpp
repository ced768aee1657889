#include "exec/cpio.h"

#include <gtest/gtest.h>

#include <string>

#include "amber/error.h"

namespace amber::exec {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Cpio, WhatIsWrittenParsesBackEntryByEntry) {
  CpioWriter w;
  w.add_dir("dev", 0755);
  w.add_char_device("dev/console", 0600, 5, 1);
  auto five = bytes("12345");  // 5 bytes: the data needs padding
  w.add_file("init", five, 0755);
  w.add_file("empty", {}, 0644);
  auto a = w.finish();
  EXPECT_EQ(a.size() % 4, 0u);
  auto e = parse_cpio(a);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].name, "dev");
  EXPECT_EQ(e[0].mode, kCpioDir | 0755);
  EXPECT_EQ(e[0].nlink, 2u);
  EXPECT_EQ(e[1].name, "dev/console");
  EXPECT_EQ(e[1].mode, kCpioCharDev | 0600);
  EXPECT_EQ(e[1].rdev_major, 5u);
  EXPECT_EQ(e[1].rdev_minor, 1u);
  EXPECT_EQ(e[2].name, "init");
  EXPECT_EQ(e[2].mode, kCpioFile | 0755);
  EXPECT_EQ(e[2].data, five);
  EXPECT_EQ(e[3].name, "empty");
  EXPECT_TRUE(e[3].data.empty());
  // Distinct inode numbers: the kernel links entries with equal ino/nlink>1.
  EXPECT_NE(e[0].ino, e[1].ino);
  EXPECT_NE(e[2].ino, e[3].ino);
}

TEST(Cpio, TheHeaderIsNewcAsTheKernelReadsIt) {
  CpioWriter w;
  auto data = bytes("abc");
  w.add_file("f", data, 0644);
  auto a = w.finish();
  std::string s(a.begin(), a.end());
  // magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime 0, size 3, ... namesize 2
  EXPECT_EQ(s.substr(0, 6), "070701");
  EXPECT_EQ(s.substr(6, 8), "00000001");
  EXPECT_EQ(s.substr(14, 8), "000081a4");
  EXPECT_EQ(s.substr(38, 8), "00000001");
  EXPECT_EQ(s.substr(54, 8), "00000003");
  EXPECT_EQ(s.substr(94, 8), "00000002");
  EXPECT_EQ(s.substr(110, 2), std::string("f\0", 2));
  // 110 + 2 = 112: already aligned, the data follows at once, then padding.
  EXPECT_EQ(s.substr(112, 4), std::string("abc\0", 4));
  EXPECT_NE(s.find("TRAILER!!!"), std::string::npos);
  EXPECT_EQ(s.substr(116, 6), "070701");
}

TEST(Cpio, TheSameInputGivesTheSameBytes) {
  auto make = [] {
    CpioWriter w;
    w.add_file("x", bytes("data"));
    return w.finish();
  };
  EXPECT_EQ(make(), make());
  CpioWriter w;
  w.add_file("x", bytes("data"));
  auto first = w.finish();
  w.add_file("x", bytes("data"));
  EXPECT_EQ(w.finish(), first);  // finish() leaves a fresh writer
}

TEST(Cpio, BadNamesAreRefused) {
  CpioWriter w;
  EXPECT_THROW(w.add_file("/abs", {}), Error);
  EXPECT_THROW(w.add_file("", {}), Error);
  EXPECT_THROW(w.add_file("a/../b", {}), Error);
  EXPECT_THROW(w.add_file("./a", {}), Error);
  EXPECT_THROW(w.add_file("a//b", {}), Error);
  EXPECT_THROW(w.add_file("a/", {}), Error);
  EXPECT_THROW(w.add_file(std::string("a\0b", 3), {}), Error);
  EXPECT_THROW(w.add_file("TRAILER!!!", {}), Error);
  EXPECT_THROW(w.add_dir(std::string(4096, 'a')), Error);
  EXPECT_NO_THROW(w.add_dir(std::string(4095, 'a')));
}

TEST(Cpio, TheParserRejectsDamagedArchives) {
  CpioWriter w;
  w.add_file("file", bytes("contents"));
  auto good = w.finish();
  ASSERT_EQ(parse_cpio(good).size(), 1u);
  EXPECT_THROW(parse_cpio({}), Error);
  auto bad_magic = good;
  bad_magic[5] = '2';  // 070702 is the checksummed variant
  EXPECT_THROW(parse_cpio(bad_magic), Error);
  auto bad_hex = good;
  bad_hex[60] = 'z';
  EXPECT_THROW(parse_cpio(bad_hex), Error);
  for (size_t cut : {size_t(50), size_t(115), good.size() - 4, good.size() - 120})
    EXPECT_THROW(parse_cpio(std::span(good).first(cut)), Error) << cut;
  auto huge = good;
  std::string big = "7fffffff";
  std::copy(big.begin(), big.end(), huge.begin() + 54);  // filesize
  EXPECT_THROW(parse_cpio(huge), Error);
}

}  // namespace
}  // namespace amber::exec
