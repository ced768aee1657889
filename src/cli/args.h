#pragma once
// A small command-line scanner: "--name VALUE", "--name=VALUE", flags and
// positionals, with UsageError (exit status 2) for anything unexpected.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amber::cli {

class ArgScanner {
 public:
  ArgScanner(std::string command, std::vector<std::string> args) : command_(std::move(command)), args_(std::move(args)) {}

  bool done() const { return pos_ >= args_.size(); }
  // The next argument when it is an option ("--x" or "--x=v"): its name.
  std::optional<std::string> next_option();
  // The value of the option just returned (inline "=v" or the next arg).
  std::string value();
  // For a flag (an option without a value): UsageError when it came as
  // "--flag=VALUE", so "--no-rng=0" is not silently taken as "--no-rng".
  void flag();
  // For an option whose value is optional: only an inline "=VALUE" counts
  // (the next argument is never taken), so "--debug-exit --bare F" works.
  std::optional<std::string> inline_value();
  // The next positional argument (not starting with "--").
  std::string positional(std::string_view what);
  // Everything left, after one leading "--" if there is one (a command
  // and its arguments: `amber exec ... -- CMD ARGS`). Consumes it all.
  std::vector<std::string> rest();
  [[noreturn]] void unknown(const std::string& opt) const;
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  std::vector<std::string> args_;
  size_t pos_ = 0;
  std::string current_;
  std::optional<std::string> inline_value_;
};

// "256M", "2G", "1048576", "512K" -> bytes. UsageError on anything else.
uint64_t parse_size(std::string_view text, std::string_view what);
// A decimal integer in [lo, hi]. UsageError otherwise.
uint64_t parse_uint(std::string_view text, std::string_view what, uint64_t lo, uint64_t hi);

}  // namespace amber::cli
