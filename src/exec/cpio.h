#pragma once
// A writer (and, for tests and diagnostics, a reader) of the "newc" cpio
// format that Linux unpacks as an initramfs (the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst): per entry a
// 110-byte ASCII header "070701" + 13 8-digit hex fields, the NUL-terminated
// name, padding to 4 bytes, the data, padding to 4 bytes; "TRAILER!!!" ends
// the archive. amber exec builds its initramfs with it, in memory.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amber::exec {

// Mode bits of the file type (the st_mode values cpio stores).
inline constexpr uint32_t kCpioDir = 0040000, kCpioFile = 0100000, kCpioCharDev = 0020000;

struct CpioEntry {
  std::string name;  // relative, e.g. "init", "dev/console"
  uint32_t mode = 0;  // type | permissions
  uint32_t ino = 0, nlink = 0;
  uint32_t rdev_major = 0, rdev_minor = 0;
  std::vector<uint8_t> data;
};

class CpioWriter {
 public:
  // Names are relative paths without "." or ".." components, no NUL, at
  // most 4095 bytes; permissions are the low 12 bits. Error otherwise.
  void add_dir(std::string_view name, uint32_t perm = 0755);
  void add_file(std::string_view name, std::span<const uint8_t> data, uint32_t perm = 0644);
  void add_char_device(std::string_view name, uint32_t perm, uint32_t major, uint32_t minor);
  // The archive with its trailer; the writer is empty again afterwards.
  std::vector<uint8_t> finish();

 private:
  void add(std::string_view name, uint32_t mode, uint32_t rdev_major, uint32_t rdev_minor,
           std::span<const uint8_t> data);
  std::vector<uint8_t> out_;
  uint32_t next_ino_ = 1;
};

// Every entry up to the trailer (the trailer itself is not returned).
// Error on a bad magic, a malformed header, an entry running past the end
// or a missing trailer.
std::vector<CpioEntry> parse_cpio(std::span<const uint8_t> archive);

}  // namespace amber::exec
