#include "vmm/image_lease.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace amber::vmm {

int image_lease_signal() { return SIGRTMIN + 1; }

std::string take_image_lease(int fd) {
  // F_SETSIG first: with a signal other than SIGIO the kernel queues it with
  // siginfo (si_fd), and a lease break is never confused with other I/O.
  if (::fcntl(fd, F_SETSIG, image_lease_signal()) < 0) return fmt::format("F_SETSIG: {}", std::strerror(errno));
  if (::fcntl(fd, F_SETOWN, ::getpid()) < 0) return fmt::format("F_SETOWN: {}", std::strerror(errno));
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
    switch (errno) {
      case EAGAIN: return "the file is open for writing by another process";
      case EACCES: return "not the file's owner (a lease needs ownership or CAP_LEASE)";
      case EINVAL: return "this file system has no leases";
      default: return fmt::format("F_SETLEASE: {}", std::strerror(errno));
    }
  }
  return "";
}

}  // namespace amber::vmm
