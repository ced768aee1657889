#include "exec/exec_config.h"

#include <gtest/gtest.h>

#include <string>

#include "amber/error.h"

using namespace std::string_literals;

namespace amber::exec {
namespace {

ExecConfig sample() {
  ExecConfig c;
  c.root_tag = "amber-root";
  c.status_tag = "amber-status";
  c.status_port = 0xf4;
  c.cwd = "/home/me/src dir";
  c.verbose = true;
  c.tty_raw_out = true;
  c.rwdirs = {{"amber-rw0", "/home/me/out"}, {"amber-rw1", "/tmp/with:colon"}};
  c.env = {"PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY="};
  c.argv = {"sh", "-c", "cat in.txt; exit 7", "", "arg with\nnewline"};
  return c;
}

TEST(ExecConfig, RoundTripsEveryField) {
  auto c = sample();
  EXPECT_EQ(parse_exec_config(serialize_exec_config(c)), c);
  c.status_tag.clear();
  c.status_port = 0;
  c.verbose = false;
  c.tty_noecho = true;
  EXPECT_EQ(parse_exec_config(serialize_exec_config(c)), c);
}

TEST(ExecConfig, TheFormatIsNulSeparatedPairsAfterTheMagic) {
  ExecConfig c;
  c.root_tag = "r";
  c.cwd = "/w";
  c.argv = {"ls", "-l"};
  auto b = serialize_exec_config(c);
  std::string s(b.begin(), b.end());
  std::string want = "amber-exec 1\0root\0r\0cwd\0/w\0verbose\0" "0\0tty_raw_out\0" "0\0tty_noecho\0" "0\0arg\0ls\0arg\0-l\0"s;
  EXPECT_EQ(s, want);
}

TEST(ExecConfig, UnknownKeysAreIgnoredLikeAmberInitDoes) {
  ExecConfig c;
  c.root_tag = "r";
  c.argv = {"true"};
  auto b = serialize_exec_config(c);
  std::string extra = "future\0value\0"s;
  b.insert(b.end(), extra.begin(), extra.end());
  EXPECT_EQ(parse_exec_config(b), c);
}

TEST(ExecConfig, BadConfigurationsAreRefused) {
  auto c = sample();
  c.argv.clear();
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.argv[1] = "a\0b"s;
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.cwd = "relative";
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.rwdirs[0].tag = "a:b";
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.env.push_back("NOEQUALS");
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.argv.assign(kMaxArgs + 1, "x");
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.argv = {"x", std::string(kMaxConfigBytes, 'y')};
  EXPECT_THROW(serialize_exec_config(c), Error);
  c = sample();
  c.root_tag.clear();
  EXPECT_THROW(serialize_exec_config(c), Error);
}

TEST(ExecConfig, TheParserRefusesMalformedFiles) {
  auto parse = [](std::string s) { return parse_exec_config({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); };
  EXPECT_THROW(parse(""), Error);
  EXPECT_THROW(parse("amber-exec 2\0"s), Error);
  EXPECT_THROW(parse("amber-exec 1\0root\0r\0arg\0x"s), Error);  // no final NUL
  EXPECT_THROW(parse("amber-exec 1\0root\0r\0arg\0x\0arg\0"s), Error);  // key without value
  EXPECT_THROW(parse("amber-exec 1\0root\0r\0"s), Error);  // no command
  EXPECT_THROW(parse("amber-exec 1\0root\0r\0status_port\0" "99999\0arg\0x\0"s), Error);
  EXPECT_NO_THROW(parse("amber-exec 1\0root\0r\0arg\0x\0"s));
}

}  // namespace
}  // namespace amber::exec
