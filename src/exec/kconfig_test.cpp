#include "exec/kconfig.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace amber::exec {
namespace {

// CONFIG_X -> value of every "CONFIG_X=value" line.
std::map<std::string, std::string> settings(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CONFIG_", 0) != 0) continue;
    auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Kconfig, EveryPrintedOptionIsYesInTheTestKernelsFragment) {
  auto fragment = settings(read(AMBER_SOURCE_ROOT "/guest-tests/linux/microvm.fragment"));
  ASSERT_GT(fragment.size(), 20u);
  auto printed = settings(kconfig_fragment());
  EXPECT_EQ(printed.size(), kconfig_options().size());
  for (auto& [name, value] : printed) {
    EXPECT_EQ(value, "y") << name;
    auto it = fragment.find(name);
    ASSERT_NE(it, fragment.end()) << name << " is printed by amber kconfig but not in microvm.fragment";
    EXPECT_EQ(it->second, "y") << name;
  }
}

TEST(Kconfig, TheFragmentHoldsWhatExecAndRunNeed) {
  auto printed = settings(kconfig_fragment());
  for (const char* need : {"CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES", "CONFIG_VIRTIO_BLK", "CONFIG_HW_RANDOM_VIRTIO",
                           "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS", "CONFIG_OVERLAY_FS", "CONFIG_DEVTMPFS",
                           "CONFIG_TMPFS", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_BLK_DEV_INITRD", "CONFIG_PVH"})
    EXPECT_EQ(printed.count(need), 1u) << need;
}

TEST(Kconfig, OnlyCommentsAndSettingsSoMergeConfigTakesIt) {
  // merge_config.sh reads "CONFIG_X=..." and "# CONFIG_X is not set"; every
  // other line must be a comment or blank, and no comment may look like a
  // "not set" line, which would turn an option off.
  std::istringstream in(kconfig_fragment());
  std::set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_EQ(line.find("is not set"), std::string::npos) << line;
      EXPECT_NE(line.rfind("# CONFIG_", 0), 0u) << line;
      continue;
    }
    ASSERT_EQ(line.rfind("CONFIG_", 0), 0u) << line;
    EXPECT_TRUE(seen.insert(line).second) << "twice: " << line;
  }
}

}  // namespace
}  // namespace amber::exec
