// Ops on a file's contents and attributes: lopen, lcreate, read, write,
// readdir, fsync, readlink, setattr.
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "virtio/p9/host_fs.h"
#include "virtio/p9/server.h"

namespace amber::virtio::p9 {

namespace {
constexpr uint32_t kRreadHeader = kHeaderSize + 4;  // size type tag count
constexpr size_t kDirentBuffer = 64 * 1024;

// Tlopen / Tlcreate flags -> open(2) flags. Only what the server honours
// goes through: O_DIRECT (alignment rules the guest cannot see), O_NOATIME
// (EPERM for files amber does not own), O_NONBLOCK, O_ASYNC and the like
// are dropped; O_NOFOLLOW and O_CLOEXEC are always added by the caller.
int host_open_flags(uint32_t dotl) {
  int f = int(dotl & kDotlAccMode);
  if (dotl & kDotlTrunc) f |= O_TRUNC;
  if (dotl & kDotlAppend) f |= O_APPEND;
  if (dotl & kDotlDirectory) f |= O_DIRECTORY;
  if (dotl & kDotlDsync) f |= O_DSYNC;
  if (dotl & kDotlSync) f |= O_SYNC;
  return f;
}

bool writes(int host_flags) {
  return (host_flags & O_ACCMODE) != O_RDONLY || (host_flags & (O_TRUNC | O_APPEND));
}

// Plain permission bits: setuid/setgid bits are never set on the host, so a
// guest cannot leave a setuid program for the host's users (docs/shares.md).
mode_t safe_mode(uint32_t mode) { return mode_t(mode & 01777); }
}  // namespace

int Server::op_lopen(Reader& r, Writer& w) {
  uint32_t fid = r.u32(), flags = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  if (f->open) return EBADF;  // open(5): a fid is opened once
  int hf = host_open_flags(flags);
  if ((hf & O_ACCMODE) == O_ACCMODE) return EINVAL;
  if (read_only_ && writes(hf)) return EROFS;
  struct stat st {};
  if (int err = stat_fd(f->handle.get(), st)) return err;
  // Regular files and directories only: opening a host device node, FIFO or
  // socket through the share could reach host hardware or block the I/O
  // thread forever. A symlink is never opened (never followed).
  if (S_ISLNK(st.st_mode)) return ELOOP;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return EPERM;
  if (S_ISDIR(st.st_mode) && (hf & O_ACCMODE) != O_RDONLY) return EISDIR;
  // Reopens exactly the inode the fid holds (no lookup by name that a
  // rename could redirect).
  int fd = ::open(proc_fd_path(f->handle.get()).c_str(), hf | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  f->open.reset(fd);
  f->open_dir = S_ISDIR(st.st_mode);
  f->open_write = (hf & O_ACCMODE) != O_RDONLY;
  w.qid(qid_of(st)).u32(0);  // iounit 0: the client uses msize - 24
  return 0;
}

int Server::op_lcreate(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  std::string name = r.str();
  uint32_t flags = r.u32(), mode = r.u32();
  r.u32();  // gid: files are created with amber's own credentials
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  if (f->open) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  std::string path = join_path(f->path, name);
  if (path.size() > kMaxPath) return ENAMETOOLONG;
  int hf = (host_open_flags(flags) & ~O_DIRECTORY) | O_CREAT | O_NOFOLLOW | O_NOCTTY;
  if (flags & kDotlExcl) hf |= O_EXCL;
  if ((hf & O_ACCMODE) == O_ACCMODE) return EINVAL;
  UniqueFd file, handle;
  if (int err = open_beneath(f->handle.get(), name, hf, safe_mode(mode) & 0777, file)) return err;
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EPERM;  // an existing FIFO or device node: not opened further
  if (int err = open_beneath(f->handle.get(), name, O_PATH | O_NOFOLLOW, 0, handle)) return err;
  // lcreate: the fid now stands for the new, open file.
  f->handle = std::move(handle);
  f->path = std::move(path);
  f->open = std::move(file);
  f->open_dir = false;
  f->open_write = (hf & O_ACCMODE) != O_RDONLY;
  w.qid(qid_of(st)).u32(0);
  return 0;
}

int Server::op_read(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  uint64_t offset = r.u64();
  uint32_t count = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f || !f->open) return EBADF;
  if (f->open_dir) return EISDIR;
  if (offset > uint64_t(INT64_MAX)) return EINVAL;
  // Guest-controlled count: no more than the reply can carry (msize and the
  // driver's writable buffers).
  count = uint32_t(std::min<uint64_t>({count, msize_ - kRreadHeader, w.room_left() >= 4 ? w.room_left() - 4 : 0}));
  size_t count_at = w.size();
  w.u32(0);
  auto buf = w.reserve(count);
  if (!w.ok()) return ERANGE;
  ssize_t n;
  do n = ::pread(f->open.get(), buf.data(), buf.size(), off_t(offset));
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  w.shrink_to(count_at + 4 + size_t(n));
  w.patch_u32(count_at, uint32_t(n));
  return 0;
}

int Server::op_write(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  uint64_t offset = r.u64();
  uint32_t count = r.u32();
  auto data = r.bytes(count);  // guest-controlled count: must lie inside the message
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f || !f->open) return EBADF;
  if (read_only_) return EROFS;
  if (!f->open_write) return EBADF;
  if (offset > uint64_t(INT64_MAX)) return EINVAL;
  ssize_t n;
  do n = ::pwrite(f->open.get(), data.data(), data.size(), off_t(offset));
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  w.u32(uint32_t(n));
  return 0;
}

int Server::op_readdir(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  uint64_t offset = r.u64();
  uint32_t count = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f || !f->open) return EBADF;
  if (!f->open_dir) return ENOTDIR;
  count = uint32_t(std::min<uint64_t>({count, msize_ - kRreadHeader, w.room_left() >= 4 ? w.room_left() - 4 : 0}));
  // Offsets are the host's d_off cookies, handed to the guest with each
  // entry and given back here to continue (Rreaddir in 9P2000.L).
  if (::lseek(f->open.get(), off_t(offset), SEEK_SET) < 0) return errno;
  size_t count_at = w.size();
  w.u32(0);
  size_t start = w.size();
  dirents_.resize(kDirentBuffer);
  bool full = false;
  while (!full) {
    long n = ::syscall(SYS_getdents64, f->open.get(), dirents_.data(), dirents_.size());
    if (n < 0) return errno;
    if (n == 0) break;
    for (long at = 0; at < n;) {
      auto* d = reinterpret_cast<const struct dirent64*>(dirents_.data() + at);
      at += d->d_reclen;
      std::string_view name(d->d_name);
      size_t entry = kQidSize + 8 + 1 + 2 + name.size();
      if (w.size() - start + entry > count) {
        full = true;
        break;
      }
      Qid q;
      q.type = d->d_type == DT_DIR ? kQidDir : d->d_type == DT_LNK ? kQidSymlink : kQidFile;
      q.path = d->d_ino;
      // The root's ".." names the root itself, not the host's parent.
      if (f->path.empty() && name == "..") q.path = root_stat_.st_ino;
      w.qid(q).u64(uint64_t(d->d_off)).u8(d->d_type).str(name);
    }
  }
  w.patch_u32(count_at, uint32_t(w.size() - start));
  return 0;
}

int Server::op_fsync(Reader& r, Writer&) {
  uint32_t fid = r.u32();  // a datasync[4] may follow; fsync covers it
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  if (!f->open) return 0;
  return ::fsync(f->open.get()) == 0 ? 0 : errno;
}

int Server::op_readlink(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  // The link's text goes to the guest, whose kernel resolves it in the
  // guest's own namespace; the server never follows it.
  char buf[kMaxPath + 1];
  ssize_t n = ::readlinkat(f->handle.get(), "", buf, sizeof buf);
  if (n < 0) return errno == ENOENT ? EINVAL : errno;  // not a symlink
  w.str(std::string_view(buf, size_t(n)));
  return 0;
}

int Server::op_setattr(Reader& r, Writer&) {
  uint32_t fid = r.u32(), valid = r.u32(), mode = r.u32(), uid = r.u32(), gid = r.u32();
  uint64_t size = r.u64(), atime_s = r.u64(), atime_ns = r.u64(), mtime_s = r.u64(), mtime_ns = r.u64();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  if (read_only_) return EROFS;
  struct stat st {};
  if (int err = stat_fd(f->handle.get(), st)) return err;
  bool link = S_ISLNK(st.st_mode);
  std::string proc = proc_fd_path(f->handle.get());
  if (valid & kAttrMode) {
    if (link) return EOPNOTSUPP;  // Linux has no symlink permissions
    if (::chmod(proc.c_str(), safe_mode(mode)) != 0) return errno;
  }
  if (valid & (kAttrUid | kAttrGid)) {
    uid_t u = (valid & kAttrUid) ? uid_t(uid) : uid_t(-1);
    gid_t g = (valid & kAttrGid) ? gid_t(gid) : gid_t(-1);
    if (::fchownat(f->handle.get(), "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  }
  if (valid & kAttrSize) {
    if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    if (size > uint64_t(INT64_MAX)) return EINVAL;
    if (::truncate(proc.c_str(), off_t(size)) != 0) return errno;
  }
  if ((valid & (kAttrAtime | kAttrMtime)) && !link) {
    // ATIME/MTIME alone mean "now"; with *_SET the given time (setattr in 9P2000.L).
    struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (valid & kAttrAtime)
      ts[0] = (valid & kAttrAtimeSet) ? timespec{time_t(atime_s), long(atime_ns)} : timespec{0, UTIME_NOW};
    if (valid & kAttrMtime)
      ts[1] = (valid & kAttrMtimeSet) ? timespec{time_t(mtime_s), long(mtime_ns)} : timespec{0, UTIME_NOW};
    if (::utimensat(AT_FDCWD, proc.c_str(), ts, 0) != 0) return errno;
  }
  return 0;  // kAttrCtime alone: the host updates ctime itself
}

}  // namespace amber::virtio::p9
