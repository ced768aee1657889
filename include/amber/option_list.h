#pragma once
// The "SUBJECT[,KEY[=VALUE]]..." form of options such as --disk and
// --share: the subject (a path), then comma-separated options, each a bare
// KEY or KEY=VALUE. Splitting only; each option's parser checks its keys.
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber {

struct ListedOption {
  std::string_view text;   // "KEY" or "KEY=VALUE", as given
  std::string_view key;
  std::string_view value;  // empty without '='
  bool has_value = false;
};

struct OptionList {
  std::string_view subject;
  std::vector<ListedOption> options;
};

// Splits `text` for `option` (e.g. "--disk", named in errors). Throws
// UsageError when the subject is empty (`subject_name` says what is
// missing) or a key appears twice.
inline OptionList split_option_list(std::string_view text, std::string_view option, std::string_view subject_name) {
  OptionList out;
  std::string_view rest = text;
  size_t comma = rest.find(',');
  out.subject = rest.substr(0, comma);
  if (out.subject.empty()) throw UsageError(fmt::format("{} '{}': missing {}", option, text, subject_name));
  while (comma != std::string_view::npos) {
    rest.remove_prefix(comma + 1);
    comma = rest.find(',');
    ListedOption o;
    o.text = rest.substr(0, comma);
    o.key = o.text.substr(0, o.text.find('='));
    o.has_value = o.key.size() != o.text.size();
    if (o.has_value) o.value = o.text.substr(o.key.size() + 1);
    for (auto& seen : out.options)
      if (seen.key == o.key) throw UsageError(fmt::format("{}: option '{}' given twice", option, o.key));
    out.options.push_back(o);
  }
  return out;
}

}  // namespace amber
