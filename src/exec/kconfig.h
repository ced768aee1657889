#pragma once
// `amber kconfig`: the kernel options a guest kernel needs for `amber run`
// and `amber exec`, as a fragment for scripts/kconfig/merge_config.sh (like
// `vng --kconfig`). Each is =y in guest-tests/linux/microvm.fragment, which
// a unit test checks.
#include <span>
#include <string>

namespace amber::exec {

struct KconfigOption {
  const char* name;  // without the CONFIG_ prefix
  const char* why;   // one line, printed as a comment above it
};

std::span<const KconfigOption> kconfig_options();
// The fragment: a header comment, then "# why" and "CONFIG_NAME=y" per option.
std::string kconfig_fragment();

}  // namespace amber::exec
