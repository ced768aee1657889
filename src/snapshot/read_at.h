#pragma once
// pread() that loops until `len` bytes are in, reporting a short file as
// "truncated" (the image was cut after it was opened, or is hostile).
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::image {

inline void read_at(int fd, void* buf, size_t len, uint64_t off, const std::string& file, const std::string& what) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, static_cast<char*>(buf) + got, len - got, static_cast<off_t>(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError(fmt::format("{}: read {} at offset {}", file, what, off + got), errno);
    if (n == 0)
      throw Error(fmt::format("{}: truncated: {} ends at {}, file ends at {}", file, what, off + len, off + got));
    got += static_cast<size_t>(n);
  }
}

}  // namespace amber::image
