#include "exec/exec_config.h"

#include <fmt/core.h>

#include <charconv>
#include <string_view>

#include "amber/error.h"

namespace amber::exec {

namespace {

constexpr std::string_view kMagic = "amber-exec 1";

void put(std::vector<uint8_t>& out, std::string_view s, const char* what) {
  if (s.find('\0') != std::string_view::npos) throw Error(fmt::format("exec: {} holds a NUL byte", what));
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}

void put_pair(std::vector<uint8_t>& out, std::string_view key, std::string_view value, const char* what) {
  put(out, key, what);
  put(out, value, what);
}

void check(const ExecConfig& c) {
  if (c.root_tag.empty()) throw Error("exec: no root share tag");
  if (c.argv.empty() || c.argv[0].empty()) throw Error("exec: no command to run");
  if (c.cwd.empty() || c.cwd[0] != '/') throw Error(fmt::format("exec: working directory '{}' is not absolute", c.cwd));
  if (c.argv.size() > kMaxArgs) throw Error(fmt::format("exec: more than {} arguments", kMaxArgs));
  if (c.env.size() > kMaxEnv) throw Error(fmt::format("exec: more than {} environment variables", kMaxEnv));
  if (c.rwdirs.size() > kMaxRwDirs) throw Error(fmt::format("exec: more than {} --rwdir directories", kMaxRwDirs));
  for (auto& e : c.env)
    if (e.find('=') == std::string::npos || e[0] == '=') throw Error(fmt::format("exec: '{}' is not NAME=VALUE", e));
  for (auto& r : c.rwdirs) {
    if (r.tag.empty() || r.tag.find(':') != std::string::npos) throw Error(fmt::format("exec: bad share tag '{}'", r.tag));
    if (r.path.empty() || r.path[0] != '/') throw Error(fmt::format("exec: --rwdir path '{}' is not absolute", r.path));
  }
}

}  // namespace

std::vector<uint8_t> serialize_exec_config(const ExecConfig& c) {
  check(c);
  std::vector<uint8_t> out;
  put(out, kMagic, "magic");
  put_pair(out, "root", c.root_tag, "the root tag");
  if (!c.status_tag.empty()) put_pair(out, "status_tag", c.status_tag, "the status tag");
  if (c.status_port) put_pair(out, "status_port", std::to_string(c.status_port), "the status port");
  put_pair(out, "cwd", c.cwd, "the working directory");
  put_pair(out, "verbose", c.verbose ? "1" : "0", "verbose");
  put_pair(out, "tty_raw_out", c.tty_raw_out ? "1" : "0", "tty_raw_out");
  put_pair(out, "tty_noecho", c.tty_noecho ? "1" : "0", "tty_noecho");
  for (auto& r : c.rwdirs) put_pair(out, "rw", r.tag + ":" + r.path, "an --rwdir path");
  for (auto& e : c.env) put_pair(out, "env", e, "an environment variable");
  for (auto& a : c.argv) put_pair(out, "arg", a, "an argument");
  if (out.size() > kMaxConfigBytes)
    throw Error(fmt::format("exec: the command's configuration is {} bytes, more than {}", out.size(), kMaxConfigBytes));
  return out;
}

ExecConfig parse_exec_config(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxConfigBytes) throw Error("exec config: too large");
  std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!all.empty() && all.back() != '\0') throw Error("exec config: the last string is not NUL-terminated");
  std::vector<std::string_view> strings;
  for (size_t pos = 0; pos < all.size();) {
    size_t end = all.find('\0', pos);
    strings.push_back(all.substr(pos, end - pos));
    pos = end + 1;
  }
  if (strings.empty() || strings[0] != kMagic) throw Error("exec config: unknown format (no 'amber-exec 1' magic)");
  if (strings.size() % 2 == 0) throw Error("exec config: a key without a value");
  ExecConfig c;
  c.cwd.clear();
  auto flag = [](std::string_view v) { return v == "1"; };
  for (size_t i = 1; i + 1 < strings.size(); i += 2) {
    std::string_view k = strings[i], v = strings[i + 1];
    if (k == "root") c.root_tag = v;
    else if (k == "status_tag") c.status_tag = v;
    else if (k == "status_port") {
      unsigned port = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
      if (ec != std::errc() || p != v.data() + v.size() || port > 0xffff)
        throw Error(fmt::format("exec config: bad status_port '{}'", v));
      c.status_port = uint16_t(port);
    } else if (k == "cwd") c.cwd = v;
    else if (k == "verbose") c.verbose = flag(v);
    else if (k == "tty_raw_out") c.tty_raw_out = flag(v);
    else if (k == "tty_noecho") c.tty_noecho = flag(v);
    else if (k == "rw") {
      auto colon = v.find(':');
      if (colon == std::string_view::npos) throw Error(fmt::format("exec config: bad rw entry '{}'", v));
      c.rwdirs.push_back({std::string(v.substr(0, colon)), std::string(v.substr(colon + 1))});
    } else if (k == "env") c.env.emplace_back(v);
    else if (k == "arg") c.argv.emplace_back(v);
    // other keys: ignored, as amber-init does
  }
  if (c.cwd.empty()) c.cwd = "/";
  check(c);
  return c;
}

}  // namespace amber::exec
