// Message framing, the session ops (version, attach, walk, clunk, flush)
// and the ops on a fid's attributes. File I/O is in server_io.cpp, ops that
// create, rename or remove names in server_names.cpp.
#include "virtio/p9/server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "amber/error.h"
#include "virtio/p9/host_fs.h"

namespace amber::virtio::p9 {

Server::Server(UniqueFd root, bool read_only) : root_(std::move(root)), read_only_(read_only) {
  if (stat_fd(root_.get(), root_stat_) != 0 || !S_ISDIR(root_stat_.st_mode))
    throw Error("virtio-9p: the share root is not a directory");
}

std::unique_ptr<Server> Server::open(const ShareSpec& spec) {
  // The share root itself is the one path the server follows symlinks in:
  // it comes from amber's user, not the guest.
  int fd = ::open(spec.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SysError(fmt::format("--share {}", spec.path), errno);
  UniqueFd root(fd);
  UniqueFd probe;
  if (open_beneath(root.get(), "", O_PATH | O_DIRECTORY, 0, probe) == ENOSYS)
    throw Error("--share needs openat2(2), Linux 5.6 or later, to keep the guest inside the directory");
  // Every fid holds a host descriptor and a guest may hold up to kMaxFids:
  // lift the soft RLIMIT_NOFILE to the hard limit, once per process.
  static std::once_flag lifted;
  std::call_once(lifted, [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  });
  return std::make_unique<Server>(std::move(root), spec.read_only);
}

void Server::reset() {
  fids_.clear();
  msize_ = 0;
}

void Server::handle(std::span<const uint8_t> request, std::vector<uint8_t>& reply, size_t reply_limit) {
  reply.clear();
  uint32_t limit = msize_ ? msize_ : kMaxMsize;
  if (reply_limit > limit) reply_limit = limit;
  Reader hdr(request);
  uint32_t size = hdr.u32();
  uint8_t type = hdr.u8();
  uint16_t tag = hdr.u16();
  if (!hdr.ok()) {  // guest-controlled: no tag to answer to
    log::guest_warn(warn_limit_, "virtio-9p: a {}-byte request has no 9P header", request.size());
    return;
  }
  Writer w(reply, reply_limit);
  auto error = [&](int err) {
    Writer e(reply, reply_limit);
    e.u32(kHeaderSize + 4).u8(kRlerror).u16(tag).u32(uint32_t(err));
    if (!e.ok()) reply.clear();
  };
  // size[4] counts the whole message; it must fit what the driver gave and
  // the negotiated msize (guest-controlled).
  if (size < kHeaderSize || size > request.size() || size > limit) {
    log::guest_warn(warn_limit_, "virtio-9p: message size {} with {} bytes readable (msize {})", size,
                    request.size(), limit);
    return error(EMSGSIZE);
  }
  // Every T-message is odd, its R-message the next number (intro(5)).
  w.u32(0).u8(uint8_t(type + 1)).u16(tag);
  Reader r(request.subspan(kHeaderSize, size - kHeaderSize));
  int err = dispatch(type, r, w);
  if (err == 0 && !w.ok()) err = ERANGE;  // the reply outgrew msize or the buffers
  if (err != 0) return error(err);
  w.patch_u32(0, uint32_t(w.size()));
}

int Server::dispatch(uint8_t type, Reader& r, Writer& w) {
  if (type == kTversion) return op_version(r, w);
  if (msize_ == 0) return EPROTO;  // Tversion comes first (version(5))
  switch (type) {
    case kTattach: return op_attach(r, w);
    case kTwalk: return op_walk(r, w);
    case kTclunk: return op_clunk(r, w);
    case kTremove: return op_remove(r, w);
    case kTflush: return 0;  // requests complete before the next is read: nothing to cancel
    case kTgetattr: return op_getattr(r, w);
    case kTsetattr: return op_setattr(r, w);
    case kTstatfs: return op_statfs(r, w);
    case kTlock: return op_lock(r, w);
    case kTgetlock: return op_getlock(r, w);
    case kTlopen: return op_lopen(r, w);
    case kTlcreate: return op_lcreate(r, w);
    case kTread: return op_read(r, w);
    case kTwrite: return op_write(r, w);
    case kTreaddir: return op_readdir(r, w);
    case kTfsync: return op_fsync(r, w);
    case kTreadlink: return op_readlink(r, w);
    case kTmkdir: return op_mkdir(r, w);
    case kTsymlink: return op_symlink(r, w);
    case kTmknod: return op_mknod(r, w);
    case kTlink: return op_link(r, w);
    case kTrename: return op_rename(r, w);
    case kTrenameat: return op_renameat(r, w);
    case kTunlinkat: return op_unlinkat(r, w);
    // No extended attributes: Linux then reports "not supported" to
    // getxattr/listxattr callers.
    case kTxattrwalk:
    case kTxattrcreate:
    default: return EOPNOTSUPP;  // Tauth, the legacy 9P2000 ops, unknown types
  }
}

int Server::op_version(Reader& r, Writer& w) {
  uint32_t msize = r.u32();
  std::string version = r.str();
  if (!r.ok()) return EINVAL;
  if (msize < kMinMsize) return EINVAL;
  // version(5): a new session; every fid of the old one is gone.
  fids_.clear();
  msize_ = std::min(msize, kMaxMsize);
  bool dotl = version == "9P2000.L";
  if (!dotl) msize_ = 0;  // no session until a version the server speaks
  w.u32(dotl ? msize_ : std::min(msize, kMaxMsize)).str(dotl ? "9P2000.L" : "unknown");
  return 0;
}

int Server::op_attach(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  r.u32();  // afid: no authentication (Tauth is refused)
  r.str();  // uname
  r.str();  // aname: the share has one tree
  r.u32();  // n_uname: the server acts with amber's own credentials
  if (!r.ok()) return EINVAL;
  if (fids_.find(fid)) return EBADF;
  if (fids_.full()) return EMFILE;
  Fid f;
  int err = open_beneath(root_.get(), "", O_PATH | O_NOFOLLOW | O_DIRECTORY, 0, f.handle);
  if (err) return err;
  fids_.put(fid, std::move(f));
  w.qid(qid_of(root_stat_));
  return 0;
}

int Server::walk_step(int fd, const std::string& path, const std::string& name, UniqueFd& out,
                      std::string& out_path) {
  if (name == ".") {
    out_path = path;
    return dup_handle(fd, out);
  }
  if (name == "..") {
    // Resolved from the root, by name: at the root ".." is the root itself
    // (intro(5)), so the guest never sees the host's parent directory.
    out_path = parent_path(path);
    return open_beneath(root_.get(), out_path, O_PATH | O_NOFOLLOW | O_DIRECTORY, 0, out);
  }
  if (int err = check_name(name)) return err;
  out_path = join_path(path, name);
  if (out_path.size() > kMaxPath) return ENAMETOOLONG;
  // One component below `fd`: the kernel refuses a symlink as `fd` itself
  // and returns a trailing symlink as itself, unfollowed.
  return open_beneath(fd, name, O_PATH | O_NOFOLLOW, 0, out);
}

int Server::op_walk(Reader& r, Writer& w) {
  uint32_t fid = r.u32(), newfid = r.u32();
  uint16_t nwname = r.u16();
  if (!r.ok()) return EINVAL;
  if (nwname > kMaxWalkNames) return EINVAL;  // walk(5): at most MAXWELEM names
  std::string names[kMaxWalkNames];
  for (uint16_t i = 0; i < nwname; ++i) names[i] = r.str();
  if (!r.ok()) return EINVAL;
  Fid* from = fids_.find(fid);
  if (!from) return EBADF;
  if (newfid != fid && fids_.find(newfid)) return EEXIST;  // walk(5): newfid must be unused
  if (newfid != fid && fids_.full()) return EMFILE;

  UniqueFd cur;
  std::string path = from->path;
  if (int err = dup_handle(from->handle.get(), cur)) return err;
  size_t count_at = w.size();
  w.u16(0);
  uint16_t done = 0;
  for (; done < nwname; ++done) {
    UniqueFd next;
    std::string next_path;
    struct stat st {};
    int err = walk_step(cur.get(), path, names[done], next, next_path);
    if (err == 0) err = stat_fd(next.get(), st);
    if (err) {
      if (done == 0) return err;  // walk(5): the first name failing is an error
      break;                      // later ones: Rwalk with the qids so far
    }
    w.qid(qid_of(st));
    cur = std::move(next);
    path = std::move(next_path);
  }
  w.patch_u16(count_at, done);
  if (done < nwname) return 0;  // partial walk: newfid is not created (walk(5))
  Fid f;
  f.handle = std::move(cur);
  f.path = std::move(path);
  // A clone (nwname 0) or a walk from an open fid gives an unopened fid.
  fids_.put(newfid, std::move(f));
  return 0;
}

int Server::op_clunk(Reader& r, Writer&) {
  uint32_t fid = r.u32();
  if (!r.ok()) return EINVAL;
  return fids_.erase(fid) ? 0 : EBADF;
}

int Server::open_parent(const Fid& f, UniqueFd& out) {
  if (f.path.empty()) return EBUSY;  // the share root has no name to act on
  return open_beneath(root_.get(), parent_path(f.path), O_PATH | O_NOFOLLOW | O_DIRECTORY, 0, out);
}

int Server::op_remove(Reader& r, Writer&) {
  uint32_t fid = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  // remove(5): the fid is clunked even when the remove fails.
  Fid gone = std::move(*f);
  fids_.erase(fid);
  if (read_only_) return EROFS;
  struct stat st {};
  if (int err = stat_fd(gone.handle.get(), st)) return err;
  UniqueFd parent;
  if (int err = open_parent(gone, parent)) return err;
  std::string name(base_name(gone.path));
  if (::unlinkat(parent.get(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0) return errno;
  return 0;
}

int Server::op_getattr(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  r.u64();  // request_mask: the basic set is always returned, as valid says
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  struct stat st {};
  if (int err = stat_fd(f->handle.get(), st)) return err;
  w.u64(kGetattrBasic).qid(qid_of(st)).u32(st.st_mode).u32(st.st_uid).u32(st.st_gid);
  w.u64(st.st_nlink).u64(st.st_rdev).u64(uint64_t(st.st_size)).u64(uint64_t(st.st_blksize)).u64(uint64_t(st.st_blocks));
  w.u64(uint64_t(st.st_atim.tv_sec)).u64(uint64_t(st.st_atim.tv_nsec));
  w.u64(uint64_t(st.st_mtim.tv_sec)).u64(uint64_t(st.st_mtim.tv_nsec));
  w.u64(uint64_t(st.st_ctim.tv_sec)).u64(uint64_t(st.st_ctim.tv_nsec));
  w.u64(0).u64(0).u64(0).u64(0);  // btime, gen, data_version: not in the basic set
  return 0;
}

int Server::op_statfs(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  if (!r.ok()) return EINVAL;
  Fid* f = fids_.find(fid);
  if (!f) return EBADF;
  struct statfs s {};
  if (::fstatfs(f->handle.get(), &s) != 0) return errno;
  uint64_t fsid = uint64_t(uint32_t(s.f_fsid.__val[0])) | uint64_t(uint32_t(s.f_fsid.__val[1])) << 32;
  w.u32(uint32_t(s.f_type)).u32(uint32_t(s.f_bsize)).u64(s.f_blocks).u64(s.f_bfree).u64(s.f_bavail);
  w.u64(s.f_files).u64(s.f_ffree).u64(fsid).u32(uint32_t(s.f_namelen));
  return 0;
}

// Byte-range locks are kept by the guest kernel for its own processes; no
// other client shares the files through this server, so every lock is
// granted and no conflicting one is ever reported (as QEMU's 9p does).
int Server::op_lock(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  r.u8();   // type
  r.u32();  // flags
  r.u64();  // start
  r.u64();  // length
  r.u32();  // proc_id
  r.str();  // client_id
  if (!r.ok()) return EINVAL;
  if (!fids_.find(fid)) return EBADF;
  w.u8(kLockSuccess);
  return 0;
}

int Server::op_getlock(Reader& r, Writer& w) {
  uint32_t fid = r.u32();
  r.u8();  // type
  uint64_t start = r.u64(), length = r.u64();
  uint32_t proc_id = r.u32();
  std::string client_id = r.str();
  if (!r.ok()) return EINVAL;
  if (!fids_.find(fid)) return EBADF;
  w.u8(kLockTypeUnlock).u64(start).u64(length).u32(proc_id).str(client_id);
  return 0;
}

}  // namespace amber::virtio::p9
