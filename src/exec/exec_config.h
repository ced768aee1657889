#pragma once
// The per-run configuration of `amber exec`, a file in its initramfs
// (/amber-exec.conf) that amber-init (src/exec/init/amber_init.c) reads.
// Kept out of the kernel command line: arguments may hold any byte but NUL,
// and the command line is short (2 KiB on x86) and visible in /proc/cmdline.
//
// Format, version 1: NUL-terminated strings. The first is the magic
// "amber-exec 1"; then key, value, key, value... in this order:
//   root        9p tag of the host's root, mounted read-only under the overlay
//   status_tag  9p tag of amber's status share (optional)
//   status_port the debug-exit port, decimal (optional)
//   cwd         the working directory of the command
//   verbose, tty_raw_out, tty_noecho   "1" or "0"
//   rw          TAG:PATH, one per --rwdir (tags hold no ':')
//   env         NAME=VALUE, one per variable
//   arg         the command and its arguments, in order
// A reader ignores keys it does not know.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace amber::exec {

inline constexpr const char* kConfigPath = "amber-exec.conf";  // in the initramfs
// The reader's limits (amber_init.c: CONF_MAX, MAX_ARGS, MAX_ENV, MAX_RW).
inline constexpr size_t kMaxConfigBytes = (1 << 20) - 1;
inline constexpr size_t kMaxArgs = 4096, kMaxEnv = 64, kMaxRwDirs = 16;

struct RwDir {
  std::string tag;   // the 9p share's tag
  std::string path;  // where it is mounted in the guest (its host path)
  bool operator==(const RwDir&) const = default;
};

struct ExecConfig {
  std::string root_tag;
  std::string status_tag;    // empty: none
  uint16_t status_port = 0;  // 0: none
  std::string cwd = "/";
  bool verbose = false;
  bool tty_raw_out = false;  // the host's stdout is not a terminal: no \n -> \r\n
  bool tty_noecho = false;   // the host's stdin is not a terminal: no echo
  std::vector<RwDir> rwdirs;
  std::vector<std::string> env;
  std::vector<std::string> argv;
  bool operator==(const ExecConfig&) const = default;
};

// Error when a string holds a NUL, a tag holds ':', a path is not absolute,
// argv is empty, or a limit above is passed.
std::vector<uint8_t> serialize_exec_config(const ExecConfig& c);
// The reverse, with the same checks as amber-init's reader (tests, tools).
ExecConfig parse_exec_config(std::span<const uint8_t> bytes);

}  // namespace amber::exec
