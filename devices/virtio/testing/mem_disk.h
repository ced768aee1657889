#pragma once
// An in-memory DiskBackend for tests and the fuzzer, recording what the
// device asked of it.
#include <cstring>
#include <string>
#include <vector>

#include "virtio/disk/disk_backend.h"

namespace amber::block::testing {

class MemDisk : public DiskBackend {
 public:
  explicit MemDisk(uint64_t size, bool read_only = false, std::string id = "mem-disk")
      : bytes(size), ro(read_only), name(std::move(id)) {}

  uint64_t size() const noexcept override { return bytes.size(); }
  bool read_only() const noexcept override { return ro; }
  std::string id() const override { return name; }
  std::string identity() const override { return "mem:" + name; }
  bool read(uint64_t off, std::span<uint8_t> data) noexcept override {
    if (fail || !fits(off, data.size())) return false;
    if (!data.empty()) std::memcpy(data.data(), bytes.data() + off, data.size());
    return true;
  }
  bool write(uint64_t off, std::span<const uint8_t> data) noexcept override {
    if (fail || ro || !fits(off, data.size())) return false;
    if (!data.empty()) std::memcpy(bytes.data() + off, data.data(), data.size());
    ++writes;
    return true;
  }
  bool flush() noexcept override {
    ++flushes;
    return !fail;
  }
  bool discard(uint64_t off, uint64_t len) noexcept override {
    if (fail || ro || !fits(off, len)) return false;
    discards.push_back(Extent{off, len});
    return true;
  }
  bool write_zeroes(uint64_t off, uint64_t len, bool unmap) noexcept override {
    if (fail || ro || !fits(off, len)) return false;
    std::memset(bytes.data() + off, 0, len);
    zeroes.push_back(Extent{off, len});
    last_unmap = unmap;
    return true;
  }
  std::vector<Extent> data_extents() const override { return {Extent{0, bytes.size()}}; }

  std::vector<uint8_t> bytes;
  bool ro;
  std::string name;
  bool fail = false;
  int writes = 0, flushes = 0;
  std::vector<Extent> discards, zeroes;
  bool last_unmap = false;

 private:
  bool fits(uint64_t off, uint64_t len) const { return off <= bytes.size() && len <= bytes.size() - off; }
};

}  // namespace amber::block::testing
