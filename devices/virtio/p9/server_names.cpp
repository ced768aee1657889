// Ops that create, rename or remove names: mkdir, symlink, mknod, link,
// rename, renameat, unlinkat. Each name is one checked component
// (check_name) inside a directory fid, acted on with the *at(2) calls
// relative to that fid's handle, which never follow a trailing symlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "virtio/p9/host_fs.h"
#include "virtio/p9/server.h"

namespace amber::virtio::p9 {

int Server::qid_of_entry(int dir, const std::string& name, Qid& q) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  q = qid_of(st);
  return 0;
}

int Server::reply_qid_of_entry(int dir, const std::string& name, Writer& w) {
  Qid q;
  if (int err = qid_of_entry(dir, name, q)) return err;
  w.qid(q);
  return 0;
}

int Server::op_mkdir(Reader& r, Writer& w) {
  uint32_t dfid = r.u32();
  std::string name = r.str();
  uint32_t mode = r.u32();
  r.u32();  // gid
  if (!r.ok()) return EINVAL;
  Fid* d = fids_.find(dfid);
  if (!d) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  if (::mkdirat(d->handle.get(), name.c_str(), mode_t(mode & 01777)) != 0) return errno;
  return reply_qid_of_entry(d->handle.get(), name, w);
}

int Server::op_symlink(Reader& r, Writer& w) {
  uint32_t dfid = r.u32();
  std::string name = r.str(), target = r.str();
  r.u32();  // gid
  if (!r.ok()) return EINVAL;
  Fid* d = fids_.find(dfid);
  if (!d) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  // The target is stored as text and only ever resolved by the guest.
  if (target.empty()) return ENOENT;
  if (target.find('\0') != std::string::npos) return EINVAL;
  if (target.size() > kMaxPath) return ENAMETOOLONG;
  if (::symlinkat(target.c_str(), d->handle.get(), name.c_str()) != 0) return errno;
  return reply_qid_of_entry(d->handle.get(), name, w);
}

int Server::op_mknod(Reader& r, Writer& w) {
  uint32_t dfid = r.u32();
  std::string name = r.str();
  uint32_t mode = r.u32();
  r.u32();  // major
  r.u32();  // minor
  r.u32();  // gid
  if (!r.ok()) return EINVAL;
  Fid* d = fids_.find(dfid);
  if (!d) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  // No device nodes on the host: one made by a guest would give the host's
  // users (or amber, if it runs as root) access to host hardware.
  mode_t type = mode_t(mode) & S_IFMT;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) return EPERM;
  if (::mknodat(d->handle.get(), name.c_str(), type | mode_t(mode & 0777), 0) != 0) return errno;
  return reply_qid_of_entry(d->handle.get(), name, w);
}

int Server::op_link(Reader& r, Writer&) {
  uint32_t dfid = r.u32(), fid = r.u32();
  std::string name = r.str();
  if (!r.ok()) return EINVAL;
  Fid* d = fids_.find(dfid);
  Fid* f = fids_.find(fid);
  if (!d || !f) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  UniqueFd parent;
  if (int err = open_parent(*f, parent)) return err;
  std::string old(base_name(f->path));
  if (::linkat(parent.get(), old.c_str(), d->handle.get(), name.c_str(), 0) != 0) return errno;
  return 0;
}

int Server::op_rename(Reader& r, Writer&) {
  uint32_t fid = r.u32(), dfid = r.u32();
  std::string name = r.str();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  Fid* d = fids_.find(dfid);
  if (!f || !d) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  std::string to = join_path(d->path, name);
  if (to.size() > kMaxPath) return ENAMETOOLONG;
  UniqueFd parent;
  if (int err = open_parent(*f, parent)) return err;
  std::string from = f->path;
  std::string old(base_name(from));
  if (::renameat(parent.get(), old.c_str(), d->handle.get(), name.c_str()) != 0) return errno;
  fids_.renamed(from, to);
  return 0;
}

int Server::op_renameat(Reader& r, Writer&) {
  uint32_t olddir = r.u32();
  std::string oldname = r.str();
  uint32_t newdir = r.u32();
  std::string newname = r.str();
  if (!r.ok()) return EINVAL;
  Fid* od = fids_.find(olddir);
  Fid* nd = fids_.find(newdir);
  if (!od || !nd) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(oldname)) return err;
  if (int err = check_name(newname)) return err;
  std::string to = join_path(nd->path, newname);
  if (to.size() > kMaxPath) return ENAMETOOLONG;
  if (::renameat(od->handle.get(), oldname.c_str(), nd->handle.get(), newname.c_str()) != 0) return errno;
  fids_.renamed(join_path(od->path, oldname), to);
  return 0;
}

int Server::op_unlinkat(Reader& r, Writer&) {
  uint32_t dfid = r.u32();
  std::string name = r.str();
  uint32_t flags = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* d = fids_.find(dfid);
  if (!d) return EBADF;
  if (read_only_) return EROFS;
  if (int err = check_name(name)) return err;
  int host_flags = (flags & kDotlAtRemoveDir) ? AT_REMOVEDIR : 0;
  if (::unlinkat(d->handle.get(), name.c_str(), host_flags) != 0) return errno;
  return 0;
}

}  // namespace amber::virtio::p9
