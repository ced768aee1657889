#pragma once
// A 9P2000.L client for the unit tests and the fuzzer's seed generator:
// builds T-messages byte by byte (so tests can also build broken ones) and
// decodes the server's replies.
#include <fcntl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "virtio/p9/server.h"

namespace amber::virtio::p9::testing {

// A T-message under construction: size[4] type[1] tag[2] fields...
class Msg {
 public:
  Msg(uint8_t type, uint16_t tag = 1) { u32(0).u8(type).u16(tag); }
  Msg& u8(uint8_t v) { return put(v, 1); }
  Msg& u16(uint16_t v) { return put(v, 2); }
  Msg& u32(uint32_t v) { return put(v, 4); }
  Msg& u64(uint64_t v) { return put(v, 8); }
  Msg& str(const std::string& s) {
    u16(uint16_t(s.size()));
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Msg& raw(const std::vector<uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  // The finished message, its size field set to the real length.
  std::vector<uint8_t> bytes() const {
    auto b = b_;
    uint32_t n = uint32_t(b.size());
    for (int i = 0; i < 4; ++i) b[size_t(i)] = uint8_t(n >> (8 * i));
    return b;
  }
  // With a size field that lies.
  std::vector<uint8_t> bytes_with_size(uint32_t n) const {
    auto b = b_;
    for (int i = 0; i < 4; ++i) b[size_t(i)] = uint8_t(n >> (8 * i));
    return b;
  }

 private:
  Msg& put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b_.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> b_;
};

struct Reply {
  std::vector<uint8_t> raw;
  uint8_t type = 0;
  uint16_t tag = 0;
  uint32_t size = 0;
  bool empty() const { return raw.empty(); }
  // The Rlerror errno, or 0 for any other reply.
  uint32_t error() const {
    if (type != kRlerror || raw.size() < 11) return 0;
    return uint32_t(raw[7]) | uint32_t(raw[8]) << 8 | uint32_t(raw[9]) << 16 | uint32_t(raw[10]) << 24;
  }
  // A Reader over this reply's bytes: valid while the Reply lives.
  Reader body() const { return Reader(std::span<const uint8_t>(raw).subspan(std::min<size_t>(7, raw.size()))); }
};

class Client {
 public:
  explicit Client(Server& s) : s_(s) {}

  Reply send(const std::vector<uint8_t>& bytes, size_t reply_limit = Server::kMaxMsize) {
    Reply r;
    s_.handle(bytes, r.raw, reply_limit);
    if (r.raw.size() >= 7) {
      Reader h(r.raw);
      r.size = h.u32();
      r.type = h.u8();
      r.tag = h.u16();
    }
    return r;
  }
  Reply call(const Msg& m, size_t reply_limit = Server::kMaxMsize) { return send(m.bytes(), reply_limit); }

  Reply version(uint32_t msize = 65536, const std::string& v = "9P2000.L") {
    return call(Msg(kTversion, kNoTag).u32(msize).str(v));
  }
  Reply attach(uint32_t fid) { return call(Msg(kTattach).u32(fid).u32(kNoFid).str("root").str("").u32(0)); }
  // version + attach of fid 0: the start of every session.
  void start(uint32_t msize = 65536) {
    version(msize);
    attach(0);
  }
  Reply walk(uint32_t fid, uint32_t newfid, const std::vector<std::string>& names) {
    Msg m(kTwalk);
    m.u32(fid).u32(newfid).u16(uint16_t(names.size()));
    for (auto& n : names) m.str(n);
    return call(m);
  }
  // Number of qids in an Rwalk.
  static uint16_t walked(const Reply& r) {
    auto b = r.body();
    return r.type == kRwalk ? b.u16() : 0;
  }
  Reply lopen(uint32_t fid, uint32_t flags) { return call(Msg(kTlopen).u32(fid).u32(flags)); }
  Reply lcreate(uint32_t fid, const std::string& name, uint32_t flags, uint32_t mode = 0644) {
    return call(Msg(kTlcreate).u32(fid).str(name).u32(flags).u32(mode).u32(0));
  }
  Reply read(uint32_t fid, uint64_t off, uint32_t count, size_t reply_limit = Server::kMaxMsize) {
    return call(Msg(kTread).u32(fid).u64(off).u32(count), reply_limit);
  }
  // The data of an Rread ("" for an error).
  static std::string data(const Reply& r) {
    if (r.type != kRread) return "";
    auto b = r.body();
    uint32_t n = b.u32();
    auto d = b.bytes(n);
    return std::string(d.begin(), d.end());
  }
  Reply write(uint32_t fid, uint64_t off, const std::string& d) {
    return call(Msg(kTwrite).u32(fid).u64(off).u32(uint32_t(d.size())).raw({d.begin(), d.end()}));
  }
  Reply clunk(uint32_t fid) { return call(Msg(kTclunk).u32(fid)); }
  Reply getattr(uint32_t fid) { return call(Msg(kTgetattr).u32(fid).u64(kGetattrBasic)); }
  Reply readlink(uint32_t fid) { return call(Msg(kTreadlink).u32(fid)); }
  Reply mkdir(uint32_t dfid, const std::string& name, uint32_t mode = 0755) {
    return call(Msg(kTmkdir).u32(dfid).str(name).u32(mode).u32(0));
  }
  Reply symlink(uint32_t dfid, const std::string& name, const std::string& target) {
    return call(Msg(kTsymlink).u32(dfid).str(name).str(target).u32(0));
  }
  Reply unlinkat(uint32_t dfid, const std::string& name, uint32_t flags = 0) {
    return call(Msg(kTunlinkat).u32(dfid).str(name).u32(flags));
  }
  Reply renameat(uint32_t od, const std::string& on, uint32_t nd, const std::string& nn) {
    return call(Msg(kTrenameat).u32(od).str(on).u32(nd).str(nn));
  }
  Reply readdir(uint32_t fid, uint64_t off, uint32_t count) {
    return call(Msg(kTreaddir).u32(fid).u64(off).u32(count));
  }

  // Walks fid 0 to `names` as `newfid` and opens it read-only; returns
  // the file's contents read from offset 0 (up to 64 KiB), or "" on error.
  std::string cat(uint32_t newfid, const std::vector<std::string>& names) {
    auto w = walk(0, newfid, names);
    if (walked(w) != names.size()) return "";
    if (lopen(newfid, O_RDONLY).type != kRlopen) return "";
    std::string d = data(read(newfid, 0, 60000));
    clunk(newfid);
    return d;
  }

 private:
  Server& s_;
};

}  // namespace amber::virtio::p9::testing
