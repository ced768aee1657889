#pragma once
// The naming rule for the node and property names of a saved state tree
// (docs/conventions.md, "State names"): lowercase snake_case,
// [a-z][a-z0-9_]*, with state.h's structural suffixes "@N" (list element,
// device instance) and "#count" (list length). The names saved before the
// rule was written that break it are frozen below: renaming one would change
// the image format, and old images must still load. No name may be added to
// that list.
#include <string>
#include <string_view>
#include <vector>

#include "amber/state.h"

namespace amber::image {

inline constexpr std::string_view kFrozenStateNames[] = {
    "mem-bytes",   // /machine/config
    "read-only",   // /machine/config/disks@N (virtio-blk's own state says read_only)
    "virtio-blk",  // /machine/devices/virtio-blk@N
    "virtio-rng",  // /machine/devices/virtio-rng
};

inline bool is_snake_case(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// True when `name` (one node or property name, not a path) follows the rule
// or is one of the frozen exceptions.
inline bool state_name_ok(std::string_view name) {
  constexpr std::string_view kCount = "#count";
  if (name.size() > kCount.size() && name.ends_with(kCount)) {
    name.remove_suffix(kCount.size());
  } else if (auto at = name.find('@'); at != std::string_view::npos) {
    std::string_view index = name.substr(at + 1);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string_view::npos) return false;
    name = name.substr(0, at);
  }
  if (is_snake_case(name)) return true;
  for (auto frozen : kFrozenStateNames)
    if (name == frozen) return true;
  return false;
}

// The paths of every node and property under `node` whose name breaks the rule.
inline std::vector<std::string> misnamed_state(const StateNode& node, const std::string& path = "") {
  std::vector<std::string> bad;
  for (auto& [name, value] : node.props)
    if (!state_name_ok(name)) bad.push_back(path + "/" + name);
  for (auto& [name, child] : node.children) {
    if (!state_name_ok(name)) bad.push_back(path + "/" + name + "/");
    auto below = misnamed_state(child, path + "/" + name);
    bad.insert(bad.end(), below.begin(), below.end());
  }
  return bad;
}

}  // namespace amber::image
