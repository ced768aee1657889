#pragma once
// 9P wire codec: little-endian integers, len[2]-prefixed strings and
// 13-byte qids (protocol.h). Both sides are bounded: a Reader never reads
// past its message and remembers the first short read (every later get
// fails too), a Writer never grows past its limit (the negotiated msize)
// and remembers an overflow. The server checks ok() once per message.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "virtio/p9/protocol.h"

namespace amber::virtio::p9 {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : b_(bytes) {}

  uint8_t u8() { return uint8_t(get(1)); }
  uint16_t u16() { return uint16_t(get(2)); }
  uint32_t u32() { return uint32_t(get(4)); }
  uint64_t u64() { return get(8); }
  // A string's bytes. Its length is guest-controlled: it is checked
  // against what is left of the message before anything is copied.
  std::string str() {
    uint16_t n = u16();
    if (!ok_ || n > left()) return fail_str();
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // `n` raw bytes (Twrite data), or an empty span (and !ok()) when short.
  std::span<const uint8_t> bytes(uint64_t n) {
    if (!ok_ || n > left()) {
      ok_ = false;
      return {};
    }
    auto s = b_.subspan(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  size_t left() const { return b_.size() - pos_; }
  bool ok() const { return ok_; }

 private:
  uint64_t get(size_t n) {
    if (!ok_ || n > left()) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(b_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string fail_str() {
    ok_ = false;
    return {};
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class Writer {
 public:
  // Appends to `out` (cleared first) up to `limit` bytes in all.
  Writer(std::vector<uint8_t>& out, size_t limit) : out_(out), limit_(limit) { out_.clear(); }

  Writer& u8(uint8_t v) { return put(v, 1); }
  Writer& u16(uint16_t v) { return put(v, 2); }
  Writer& u32(uint32_t v) { return put(v, 4); }
  Writer& u64(uint64_t v) { return put(v, 8); }
  Writer& str(std::string_view s) {
    if (s.size() > UINT16_MAX) {
      ok_ = false;
      return *this;
    }
    u16(uint16_t(s.size()));
    return raw(s.data(), s.size());
  }
  Writer& qid(const Qid& q) { return u8(q.type).u32(q.version).u64(q.path); }
  Writer& raw(const void* p, size_t n) {
    if (!room(n)) return *this;
    auto* c = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), c, c + n);
    return *this;
  }
  // Grows by `n` zero bytes and returns them to be filled in place (Rread
  // data); empty when they do not fit.
  std::span<uint8_t> reserve(size_t n) {
    if (!room(n)) return {};
    size_t at = out_.size();
    out_.resize(at + n);
    return std::span<uint8_t>(out_).subspan(at, n);
  }
  void shrink_to(size_t size) {
    if (size < out_.size()) out_.resize(size);
  }
  void patch_u16(size_t at, uint16_t v) {
    if (at + 2 > out_.size()) return;  // the field itself did not fit (!ok())
    out_[at] = uint8_t(v);
    out_[at + 1] = uint8_t(v >> 8);
  }
  // Overwrites a u32 written earlier (the size field, Rreaddir's count).
  void patch_u32(size_t at, uint32_t v) {
    if (at + 4 > out_.size()) return;
    for (size_t i = 0; i < 4; ++i) out_[at + i] = uint8_t(v >> (8 * i));
  }
  size_t size() const { return out_.size(); }
  size_t room_left() const { return limit_ - out_.size(); }
  bool ok() const { return ok_; }

 private:
  bool room(size_t n) {
    if (!ok_ || n > limit_ - out_.size()) {
      ok_ = false;
      return false;
    }
    return true;
  }
  Writer& put(uint64_t v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(v >> (8 * i));
    return raw(b, n);
  }
  std::vector<uint8_t>& out_;
  size_t limit_;
  bool ok_ = true;
};

}  // namespace amber::virtio::p9
