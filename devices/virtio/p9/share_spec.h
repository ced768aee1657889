#pragma once
// The --share option: HOSTDIR[,tag=NAME][,ro] (docs/shares.md).
#include <string>
#include <string_view>
#include <vector>

namespace amber::virtio::p9 {

struct ShareSpec {
  std::string path;
  std::string tag;  // empty until parse_shares() gives the default "shareN"
  bool read_only = false;

  // The longest tag: the guest passes it to mount(2) as the device name.
  static constexpr size_t kMaxTag = 64;

  // Throws UsageError for an empty path, an unknown or repeated option, or
  // a tag that is empty, too long or holds a character other than
  // [A-Za-z0-9._-].
  static ShareSpec parse(std::string_view text);
  bool operator==(const ShareSpec&) const = default;
};

// Parses every --share in order; share i without a tag gets "share<i>".
// Throws UsageError when two shares have the same tag.
std::vector<ShareSpec> parse_shares(const std::vector<std::string>& texts);

}  // namespace amber::virtio::p9
