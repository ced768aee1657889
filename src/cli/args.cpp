#include "cli/args.h"

#include <charconv>
#include <utility>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::cli {

std::optional<std::string> ArgScanner::next_option() {
  if (done()) return std::nullopt;
  const std::string& a = args_[pos_];
  bool short_opt = a.size() == 2 && a[0] == '-' && a[1] != '-';  // -h, -v
  if ((a.rfind("--", 0) != 0 || a == "--") && !short_opt) {
    // "--" ends the options (only `amber exec` takes what follows: rest()).
    if (!a.empty() && a[0] == '-' && a != "-" && a != "--") throw UsageError(fmt::format("{}: unknown option '{}' (see 'amber {} --help')", command_, a, command_));
    return std::nullopt;
  }
  ++pos_;
  auto eq = a.find('=');
  if (eq == std::string::npos) {
    current_ = a;
    inline_value_.reset();
  } else {
    current_ = a.substr(0, eq);
    inline_value_ = a.substr(eq + 1);
  }
  return current_;
}

std::string ArgScanner::value() {
  if (inline_value_) return *std::exchange(inline_value_, std::nullopt);
  if (done()) throw UsageError(fmt::format("{}: option {} needs a value", command_, current_));
  return args_[pos_++];
}

std::optional<std::string> ArgScanner::inline_value() { return std::exchange(inline_value_, std::nullopt); }

void ArgScanner::flag() {
  if (inline_value_)
    throw UsageError(fmt::format("{}: option {} takes no value (got '={}')", command_, current_, *inline_value_));
}

std::string ArgScanner::positional(std::string_view what) {
  if (done()) throw UsageError(fmt::format("{}: missing {} (see 'amber {} --help')", command_, what, command_));
  const std::string& a = args_[pos_];
  if (a.rfind("--", 0) == 0) throw UsageError(fmt::format("{}: expected {}, got option '{}'", command_, what, a));
  ++pos_;
  return a;
}

std::vector<std::string> ArgScanner::rest() {
  if (!done() && args_[pos_] == "--") ++pos_;
  std::vector<std::string> r(args_.begin() + long(pos_), args_.end());
  pos_ = args_.size();
  return r;
}

void ArgScanner::unknown(const std::string& opt) const {
  throw UsageError(fmt::format("{}: unknown option '{}' (see 'amber {} --help')", command_, opt, command_));
}

uint64_t parse_uint(std::string_view text, std::string_view what, uint64_t lo, uint64_t hi) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty())
    throw UsageError(fmt::format("{}: '{}' is not a number", what, text));
  if (v < lo || v > hi) throw UsageError(fmt::format("{}: {} is out of range {}..{}", what, v, lo, hi));
  return v;
}

uint64_t parse_size(std::string_view text, std::string_view what) {
  if (text.empty()) throw UsageError(fmt::format("{}: empty size", what));
  uint64_t mult = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 'K': case 'k': mult = 1ull << 10; break;
    case 'M': case 'm': mult = 1ull << 20; break;
    case 'G': case 'g': mult = 1ull << 30; break;
    case 'T': case 't': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) digits.remove_suffix(1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty())
    throw UsageError(fmt::format("{}: '{}' is not a size (examples: 256M, 2G)", what, text));
  if (v > (~0ull) / mult) throw UsageError(fmt::format("{}: '{}' is too large", what, text));
  return v * mult;
}

}  // namespace amber::cli
