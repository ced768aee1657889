#pragma once
// RAII owner of one file descriptor, and the ioctl wrappers every KVM call
// goes through so that a failure always names the ioctl ("KVM_RUN: ...").
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "amber/error.h"

namespace amber::kvm {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// ioctl() retried on EINTR (none of the state ioctls is interruptible in a
// way that matters; KVM_RUN does not use this, it wants to see EINTR).
template <class Arg>
int ioctl_retry(int fd, unsigned long req, Arg arg) noexcept {
  int rc;
  do rc = ::ioctl(fd, req, arg);
  while (rc < 0 && errno == EINTR);
  return rc;
}

// ioctl() or SysError("NAME: strerror").
template <class Arg>
int xioctl(int fd, unsigned long req, Arg arg, const char* name) {
  int rc = ioctl_retry(fd, req, arg);
  if (rc < 0) throw SysError(name, errno);
  return rc;
}
inline int xioctl(int fd, unsigned long req, const char* name) { return xioctl(fd, req, 0UL, name); }

}  // namespace amber::kvm
