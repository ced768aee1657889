#pragma once
// Host file-system helpers of the 9P server, where its containment rules
// live (docs/shares.md, "Security model"):
//   - every lookup is one openat2(2) with RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, so the kernel refuses any
//     path that would leave the directory it starts from or cross a symlink;
//   - a name from the guest is one path component: no '/', no NUL, not empty,
//     at most NAME_MAX bytes;
//   - files are held as O_PATH | O_NOFOLLOW handles, so a symlink is held as
//     itself and never followed by the server.
// Functions return 0 or a positive errno, which the server sends as Rlerror.
#include <sys/stat.h>

#include <string>
#include <string_view>

#include "amber/unique_fd.h"
#include "virtio/p9/protocol.h"

namespace amber::virtio::p9 {

inline constexpr size_t kMaxName = 255;   // NAME_MAX
inline constexpr size_t kMaxPath = 4095;  // PATH_MAX - 1: a fid's path below the share root

// 0 when `name` is one usable path component; EINVAL for "", ".", "..",
// a '/' or a NUL; ENAMETOOLONG past kMaxName.
int check_name(std::string_view name);

// openat2(dirfd, path, flags | O_CLOEXEC, mode) confined below dirfd with
// no symlink crossed. A trailing symlink with O_PATH | O_NOFOLLOW is
// returned as itself (openat2(2)).
int open_beneath(int dirfd, const std::string& path, int flags, mode_t mode, UniqueFd& out);

// A second handle on the same open file (works for every O_PATH handle,
// where openat2(fd, ".") works only for directories).
int dup_handle(int fd, UniqueFd& out);

// lstat of what an O_PATH handle holds.
int stat_fd(int fd, struct stat& st);

Qid qid_of(const struct stat& st);

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c" (the share root is "").
std::string join_path(const std::string& dir, std::string_view name);
// "a/b/c" -> "a/b"; "c" -> "".
std::string parent_path(const std::string& path);
std::string_view base_name(const std::string& path);

// /proc/self/fd/N: reopens exactly the inode an O_PATH handle holds.
std::string proc_fd_path(int fd);

}  // namespace amber::virtio::p9
