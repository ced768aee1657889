#include "virtio/p9/share_spec.h"

#include <fmt/core.h>

#include <set>
#include <utility>

#include "amber/error.h"

namespace amber::virtio::p9 {

namespace {
bool valid_tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}
}  // namespace

ShareSpec ShareSpec::parse(std::string_view text) {
  ShareSpec spec;
  size_t comma = text.find(',');
  spec.path = std::string(text.substr(0, comma));
  if (spec.path.empty()) throw UsageError(fmt::format("--share '{}': missing host directory", text));
  bool seen_ro = false, seen_tag = false;
  while (comma != std::string_view::npos) {
    text.remove_prefix(comma + 1);
    comma = text.find(',');
    std::string_view opt = text.substr(0, comma);
    std::string_view key = opt.substr(0, opt.find('='));
    bool has_value = key.size() != opt.size();
    std::string_view value = has_value ? opt.substr(key.size() + 1) : std::string_view{};
    bool repeated = false;
    if (key == "ro" && !has_value) {
      repeated = std::exchange(seen_ro, true);
      spec.read_only = true;
    } else if (key == "tag" && has_value) {
      repeated = std::exchange(seen_tag, true);
      if (value.empty() || value.size() > kMaxTag)
        throw UsageError(fmt::format("--share: tag must be 1 to {} bytes", kMaxTag));
      for (char c : value)
        if (!valid_tag_char(c))
          throw UsageError(fmt::format("--share: tag '{}' may hold only letters, digits, '.', '_' and '-'", value));
      spec.tag = std::string(value);
    } else {
      throw UsageError(fmt::format("--share: unknown option '{}' (expected tag=NAME or ro)", opt));
    }
    if (repeated) throw UsageError(fmt::format("--share: option '{}' given twice", key));
  }
  return spec;
}

std::vector<ShareSpec> parse_shares(const std::vector<std::string>& texts) {
  std::vector<ShareSpec> out;
  std::set<std::string> tags;
  for (size_t i = 0; i < texts.size(); ++i) {
    ShareSpec s = ShareSpec::parse(texts[i]);
    if (s.tag.empty()) s.tag = fmt::format("share{}", i);
    if (!tags.insert(s.tag).second) throw UsageError(fmt::format("--share: tag '{}' used twice", s.tag));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace amber::virtio::p9
