#pragma once
// A 9P2000.L file server for one host directory (docs/shares.md). It reads
// one T-message and writes one R-message; the virtio transport around it is
// in p9_device.h. The guest is untrusted: every field is checked where it
// is read, every path stays below the share root (host_fs.h), message sizes
// and fid counts are bounded, and anything wrong is answered with Rlerror.
//
// Host I/O blocks the calling thread (the VM's I/O thread): a slow host
// file system stalls the VM's other devices meanwhile (docs/shares.md).
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "amber/log.h"
#include "amber/unique_fd.h"
#include "virtio/p9/fid_table.h"
#include "virtio/p9/share_spec.h"
#include "virtio/p9/wire.h"

namespace amber::virtio::p9 {

class Server {
 public:
  // The largest msize the server agrees to (Tversion answers the smaller of
  // this and the client's); it bounds every message and reply buffer.
  static constexpr uint32_t kMaxMsize = 512 * 1024;
  // Smaller msizes are refused: Rgetattr alone needs 160 bytes and Linux
  // never asks for less than 4 KiB.
  static constexpr uint32_t kMinMsize = 4096;

  // `root` is an O_PATH handle of the shared directory.
  Server(UniqueFd root, bool read_only);
  // Opens the directory of a --share. Throws Error when it is missing, not
  // a directory, or the host kernel lacks openat2(2) (Linux 5.6).
  static std::unique_ptr<Server> open(const ShareSpec& spec);

  // Serves one T-message. `reply` receives the R-message, at most
  // `reply_limit` bytes (the device's writable buffers); it stays empty
  // when not even an Rlerror fits or the request has no readable header.
  void handle(std::span<const uint8_t> request, std::vector<uint8_t>& reply, size_t reply_limit);

  // The negotiated msize; 0 before Tversion.
  uint32_t msize() const { return msize_; }
  bool read_only() const { return read_only_; }
  size_t fid_count() const { return fids_.size(); }
  // Device reset: drops every fid; the client must send Tversion again.
  void reset();

 private:
  // Each op reads its fields from `r` and writes its reply body to `w`;
  // returns 0, or an errno that handle() turns into Rlerror.
  int op_version(Reader& r, Writer& w);
  int op_attach(Reader& r, Writer& w);
  int op_walk(Reader& r, Writer& w);
  int op_clunk(Reader& r, Writer& w);
  int op_remove(Reader& r, Writer& w);
  int op_getattr(Reader& r, Writer& w);
  int op_setattr(Reader& r, Writer& w);
  int op_statfs(Reader& r, Writer& w);
  int op_lock(Reader& r, Writer& w);
  int op_getlock(Reader& r, Writer& w);
  // server_io.cpp
  int op_lopen(Reader& r, Writer& w);
  int op_lcreate(Reader& r, Writer& w);
  int op_read(Reader& r, Writer& w);
  int op_write(Reader& r, Writer& w);
  int op_readdir(Reader& r, Writer& w);
  int op_fsync(Reader& r, Writer& w);
  int op_readlink(Reader& r, Writer& w);
  // server_names.cpp
  int op_mkdir(Reader& r, Writer& w);
  int op_symlink(Reader& r, Writer& w);
  int op_mknod(Reader& r, Writer& w);
  int op_link(Reader& r, Writer& w);
  int op_rename(Reader& r, Writer& w);
  int op_renameat(Reader& r, Writer& w);
  int op_unlinkat(Reader& r, Writer& w);

  int dispatch(uint8_t type, Reader& r, Writer& w);
  // One walk step from (`fd`, `path`): "..", "." or a single name.
  int walk_step(int fd, const std::string& path, const std::string& name, UniqueFd& out, std::string& out_path);
  // The directory holding a fid's file, for ops that name it (remove, rename, link).
  int open_parent(const Fid& f, UniqueFd& out);
  // The created entry `name` in directory `dir`: its qid.
  int qid_of_entry(int dir, const std::string& name, Qid& q);
  int reply_qid_of_entry(int dir, const std::string& name, Writer& w);

  UniqueFd root_;
  struct stat root_stat_ {};
  bool read_only_;
  uint32_t msize_ = 0;
  FidTable fids_;
  std::vector<uint8_t> dirents_;  // Treaddir's getdents64 buffer
  log::RateLimit warn_limit_;
};

}  // namespace amber::virtio::p9
