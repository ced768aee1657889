#include <gtest/gtest.h>

#include "amber/error.h"
#include "cli/options.h"

namespace amber::cli {
namespace {

Command parse(std::vector<std::string> v) { return parse_command_line(v); }
using Strings = std::vector<std::string>;

TEST(ExecOptions, EveryOptionThenTheCommandAfterTheSeparator) {
  auto c = parse({"exec", "--kernel", "bz", "--cpus", "2", "--mem=512M", "--rwdir", ".", "--rwdir=/out", "--share",
                  "/data,tag=d,ro", "--cmdline", "loglevel=3", "--timings", "-v", "--force-kvm", "--", "sh", "-c",
                  "exit 7"});
  auto& e = std::get<ExecArgs>(c);
  EXPECT_EQ(e.vm.kernel, "bz");
  EXPECT_EQ(e.vm.cpus, 2u);
  EXPECT_EQ(e.vm.mem_bytes, 512ull << 20);
  EXPECT_EQ(e.rwdirs, (Strings{".", "/out"}));
  EXPECT_EQ(e.vm.shares, (Strings{"/data,tag=d,ro"}));
  EXPECT_EQ(e.vm.cmdline_extra, "loglevel=3");
  EXPECT_TRUE(e.vm.timings);
  EXPECT_TRUE(e.vm.verbose);
  EXPECT_TRUE(e.vm.force_kvm);
  EXPECT_EQ(e.command, (Strings{"sh", "-c", "exit 7"}));
}

TEST(ExecOptions, TheCommandKeepsItsOwnOptionsAndSeparators) {
  auto cmd = [](Strings v) { return std::get<ExecArgs>(parse(v)).command; };
  // After "--" nothing is amber's, not even "--help" or a second "--".
  EXPECT_EQ(cmd({"exec", "--kernel", "bz", "--", "ls", "--help", "--", "-l"}), (Strings{"ls", "--help", "--", "-l"}));
  EXPECT_EQ(cmd({"exec", "--kernel", "bz", "--", "--weird-name"}), (Strings{"--weird-name"}));
  // Without "--", the first word that is not an option starts the command.
  EXPECT_EQ(cmd({"exec", "--kernel", "bz", "ls", "-l", "--all"}), (Strings{"ls", "-l", "--all"}));
  // Defaults: one vCPU, 256M, no shares or rwdirs of the user's.
  auto e = std::get<ExecArgs>(parse({"exec", "--kernel", "bz", "--", "true"}));
  EXPECT_EQ(e.vm.cpus, 1u);
  EXPECT_EQ(e.vm.mem_bytes, 256ull << 20);
  EXPECT_TRUE(e.rwdirs.empty());
  EXPECT_TRUE(e.vm.shares.empty());
  EXPECT_FALSE(e.vm.verbose);
}

TEST(ExecOptions, BadCommandLinesAreUsageErrors) {
  EXPECT_THROW(parse({"exec", "--", "true"}), UsageError);                      // no kernel
  EXPECT_THROW(parse({"exec", "--kernel", "bz"}), UsageError);                  // no command
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--"}), UsageError);            // empty command
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--", ""}), UsageError);        // empty name
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--initrd", "i", "--", "x"}), UsageError);  // exec brings its own
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--bare", "g", "--", "x"}), UsageError);
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--cpus", "0", "--", "x"}), UsageError);
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--mem", "32M", "--", "x"}), UsageError);
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--rwdir", "", "--", "x"}), UsageError);
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--verbose=1", "--", "x"}), UsageError);
  EXPECT_THROW(parse({"exec", "--kernel", "bz", "--rwdir"}), UsageError);  // option without its value
  Strings many = {"exec", "--kernel", "bz"};
  for (int i = 0; i < 5; ++i) many.insert(many.end(), {"--rwdir", "/d" + std::to_string(i)});
  for (int i = 0; i < 3; ++i) many.insert(many.end(), {"--share", "/s" + std::to_string(i)});
  auto eight = many;
  eight.insert(eight.end(), {"--", "x"});
  EXPECT_NO_THROW(parse(eight));
  many.insert(many.end(), {"--share", "/one-more", "--", "x"});
  EXPECT_THROW(parse(many), UsageError);
}

TEST(ExecOptions, HelpAndKconfig) {
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse({"exec", "--help"})));
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse({"exec", "--kernel", "bz", "-h"})));
  // --help after "--" belongs to the command.
  EXPECT_TRUE(std::holds_alternative<ExecArgs>(parse({"exec", "--kernel", "bz", "--", "x", "--help"})));
  EXPECT_TRUE(std::holds_alternative<KconfigArgs>(parse({"kconfig"})));
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse({"kconfig", "--help"})));
  EXPECT_THROW(parse({"kconfig", "extra"}), UsageError);
  EXPECT_THROW(parse({"kconfig", "--json"}), UsageError);
  auto main_help = std::get<HelpArgs>(parse({"--help"})).text;
  EXPECT_NE(main_help.find("exec"), std::string::npos);
  EXPECT_NE(main_help.find("kconfig"), std::string::npos);
}

}  // namespace
}  // namespace amber::cli
