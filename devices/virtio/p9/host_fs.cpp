#include "virtio/p9/host_fs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/core.h>

namespace amber::virtio::p9 {

int check_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) return EINVAL;
  if (name.size() > kMaxName) return ENAMETOOLONG;
  return 0;
}

int open_beneath(int dirfd, const std::string& path, int flags, mode_t mode, UniqueFd& out) {
  open_how how{};
  how.flags = uint64_t(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a concurrent rename on the host raced the lookup (openat2(2));
  // retried a bounded number of times, so host-side churn cannot hold the
  // device's thread.
  constexpr int kTries = 64;
  for (int i = 0;; ++i) {
    long fd = ::syscall(SYS_openat2, dirfd, path.empty() ? "." : path.c_str(), &how, sizeof how);
    if (fd >= 0) {
      out.reset(int(fd));
      return 0;
    }
    if ((errno != EINTR && errno != EAGAIN) || i == kTries) return errno;
  }
}

int dup_handle(int fd, UniqueFd& out) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return errno;
  out.reset(d);
  return 0;
}

int stat_fd(int fd, struct stat& st) {
  return ::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

Qid qid_of(const struct stat& st) {
  Qid q;
  q.type = S_ISDIR(st.st_mode) ? kQidDir : S_ISLNK(st.st_mode) ? kQidSymlink : kQidFile;
  q.path = st.st_ino;
  return q;
}

std::string join_path(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

std::string parent_path(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string_view base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
}

std::string proc_fd_path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

}  // namespace amber::virtio::p9
