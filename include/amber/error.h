#pragma once
// Host-side failures (syscalls, ioctls, files, config, corrupt images) are
// exceptions; guest-side anomalies never are (see docs/architecture.md).
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

namespace amber {

// Any error the VMM reports to its user. main() prints "amber: error: what()".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failed system call or ioctl: carries errno and the operation that failed.
class SysError : public Error {
 public:
  SysError(const std::string& op, int err)
      : Error(fmt::format("{}: {}", op, std::strerror(err))), errno_(err) {}
  int code() const noexcept { return errno_; }

 private:
  int errno_;
};

// A bad command line or configuration value: main() exits with status 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Throws SysError(op, errno) when rc < 0; returns rc otherwise.
template <class T>
T check_sys(T rc, const std::string& op) {
  if (rc < 0) throw SysError(op, errno);
  return rc;
}

}  // namespace amber
