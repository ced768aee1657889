#pragma once
// The RAII fd type, and the ioctl wrappers every KVM call
// goes through so that a failure always names the ioctl ("KVM_RUN: ...").
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "amber/error.h"
#include "amber/unique_fd.h"

namespace amber::kvm {

// The descriptors of /dev/kvm, a VM and a vCPU.
using Fd = amber::UniqueFd;

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
