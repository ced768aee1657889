#include "virtio/p9/share_spec.h"

#include <fmt/core.h>

#include <set>

#include "amber/error.h"
#include "amber/option_list.h"

namespace amber::virtio::p9 {

namespace {
bool valid_tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}
}  // namespace

ShareSpec ShareSpec::parse(std::string_view text) {
  ShareSpec spec;
  auto list = split_option_list(text, "--share", "host directory");
  spec.path = std::string(list.subject);
  for (auto& o : list.options) {
    if (o.key == "ro" && !o.has_value) {
      spec.read_only = true;
    } else if (o.key == "tag" && o.has_value) {
      if (o.value.empty() || o.value.size() > kMaxTag)
        throw UsageError(fmt::format("--share: tag must be 1 to {} bytes", kMaxTag));
      for (char c : o.value)
        if (!valid_tag_char(c))
          throw UsageError(fmt::format("--share: tag '{}' may hold only letters, digits, '.', '_' and '-'", o.value));
      spec.tag = std::string(o.value);
    } else {
      throw UsageError(fmt::format("--share: unknown option '{}' (expected tag=NAME or ro)", o.text));
    }
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
