#pragma once
// Driver side of a split virtqueue, for tests and the fuzzer: builds
// descriptor chains in guest memory, publishes them on the avail ring and
// reads the used ring back.
//
//   auto c = driver.chain().readable(hdr).writable(512).writable(1);
//   c.publish();
//   auto u = driver.next_used();
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "amber/guest_memory.h"
#include "virtio/queue.h"
#include "virtio/virtio_spec.h"

namespace amber::virtio::testing {

// Test RAM: one region at guest address 0 over a host buffer.
class TestMemory {
 public:
  explicit TestMemory(size_t size = 1 << 20) : bytes_(size) { mem_.add_unowned_region(0, bytes_); }
  const GuestMemory& mem() const { return mem_; }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  GuestMemory mem_;
};

struct UsedElem {
  uint32_t id, len;
};

class FakeDriver;

class ChainBuilder {
 public:
  explicit ChainBuilder(FakeDriver& d) : d_(d) {}
  ChainBuilder& readable(std::span<const uint8_t> bytes);
  ChainBuilder& readable(uint32_t len) { return add(0, len, false, true); }
  ChainBuilder& writable(uint32_t len) { return add(0, len, true, true); }
  // A buffer at a raw guest address (for hostile chains).
  ChainBuilder& at(uint64_t addr, uint32_t len, bool writable) { return add(addr, len, writable, false); }
  // Puts the following buffers in an indirect table.
  ChainBuilder& indirect() {
    indirect_from_ = segs_.size();
    return *this;
  }
  // Writes the descriptors and publishes the head; returns the head index.
  uint16_t publish();
  // Writes the descriptors without publishing; returns the head index.
  uint16_t build();
  uint64_t addr(size_t i) const { return segs_.at(i).addr; }

 private:
  struct Seg {
    uint64_t addr;
    uint32_t len;
    bool writable;
  };
  ChainBuilder& add(uint64_t addr, uint32_t len, bool writable, bool allocate);
  FakeDriver& d_;
  std::vector<Seg> segs_;
  size_t indirect_from_ = SIZE_MAX;
};

class FakeDriver {
 public:
  // Rings at `base` (page aligned); buffers are allocated after them.
  FakeDriver(const GuestMemory& mem, uint16_t size, uint64_t base = 0x1000) : mem_(mem), size_(size) {
    desc_ = base;
    avail_ = desc_ + kDescSize * size;
    used_ = (avail_ + 6 + 2 * uint64_t(size) + 4095) & ~4095ull;
    heap_ = (used_ + 6 + kUsedElemSize * size + 4095) & ~4095ull;
  }

  uint16_t size() const { return size_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }
  QueueState queue_state() const {
    QueueState s;
    s.size = size_;
    s.desc = desc_;
    s.driver = avail_;
    s.device = used_;
    s.ready = true;
    return s;
  }

  uint64_t alloc(uint64_t len) {
    uint64_t a = heap_;
    heap_ = (heap_ + len + 15) & ~15ull;
    return a;
  }
  uint64_t put(std::span<const uint8_t> bytes) {
    uint64_t a = alloc(bytes.size());
    mem_.write(a, bytes);
    return a;
  }
  std::vector<uint8_t> get(uint64_t addr, size_t len) const {
    std::vector<uint8_t> out(len);
    mem_.read(addr, out);
    return out;
  }
  uint16_t next_free_desc() { return uint16_t(free_++ % size_); }
  void write_desc(uint16_t index, RawDesc d) const { mem_.write_obj(desc_ + kDescSize * index, d); }
  void write_desc_at(uint64_t table, uint16_t index, RawDesc d) const { mem_.write_obj(table + kDescSize * index, d); }

  // Puts `head` on the avail ring and bumps the index (§2.7.13).
  void publish(uint16_t head) {
    uint16_t idx = avail_idx();
    mem_.write_obj<uint16_t>(avail_ + 4 + 2 * uint64_t(idx % size_), head);
    mem_.write_obj<uint16_t>(avail_ + 2, uint16_t(idx + 1));
  }
  uint16_t avail_idx() const { return *mem_.read_obj<uint16_t>(avail_ + 2); }
  void set_avail_idx(uint16_t v) const { mem_.write_obj<uint16_t>(avail_ + 2, v); }
  void set_avail_flags(uint16_t v) const { mem_.write_obj<uint16_t>(avail_, v); }
  void set_used_event(uint16_t v) const { mem_.write_obj<uint16_t>(avail_ + 4 + 2 * uint64_t(size_), v); }
  uint16_t avail_event() const { return *mem_.read_obj<uint16_t>(used_ + 4 + kUsedElemSize * size_); }
  uint16_t used_idx() const { return *mem_.read_obj<uint16_t>(used_ + 2); }

  // The next used entry the driver has not consumed yet.
  std::optional<UsedElem> next_used() {
    if (used_idx() == consumed_) return std::nullopt;
    auto e = *mem_.read_obj<UsedElem>(used_ + 4 + kUsedElemSize * (consumed_ % size_));
    ++consumed_;
    return e;
  }

  ChainBuilder chain() { return ChainBuilder(*this); }

 private:
  const GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_, heap_;
  uint32_t free_ = 0;
  uint16_t consumed_ = 0;
};

inline ChainBuilder& ChainBuilder::readable(std::span<const uint8_t> bytes) {
  segs_.push_back(Seg{d_.put(bytes), uint32_t(bytes.size()), false});
  return *this;
}

inline ChainBuilder& ChainBuilder::add(uint64_t addr, uint32_t len, bool writable, bool allocate) {
  segs_.push_back(Seg{allocate ? d_.alloc(len) : addr, len, writable});
  return *this;
}

inline uint16_t ChainBuilder::build() {
  size_t direct = std::min(indirect_from_, segs_.size());
  std::vector<uint16_t> idx;
  for (size_t i = 0; i < direct; ++i) idx.push_back(d_.next_free_desc());
  bool has_indirect = indirect_from_ < segs_.size();
  if (has_indirect) idx.push_back(d_.next_free_desc());
  for (size_t i = 0; i < direct; ++i) {
    bool more = i + 1 < idx.size();
    uint16_t flags = uint16_t((segs_[i].writable ? kDescFlagWrite : 0) | (more ? kDescFlagNext : 0));
    d_.write_desc(idx[i], RawDesc{segs_[i].addr, segs_[i].len, flags, uint16_t(more ? idx[i + 1] : 0)});
  }
  if (has_indirect) {
    size_t n = segs_.size() - indirect_from_;
    uint64_t table = d_.alloc(kDescSize * n);
    for (size_t j = 0; j < n; ++j) {
      auto& s = segs_[indirect_from_ + j];
      bool more = j + 1 < n;
      uint16_t flags = uint16_t((s.writable ? kDescFlagWrite : 0) | (more ? kDescFlagNext : 0));
      d_.write_desc_at(table, uint16_t(j), RawDesc{s.addr, s.len, flags, uint16_t(more ? j + 1 : 0)});
    }
    d_.write_desc(idx.back(), RawDesc{table, uint32_t(kDescSize * n), kDescFlagIndirect, 0});
  }
  return idx.front();
}

inline uint16_t ChainBuilder::publish() {
  uint16_t head = build();
  d_.publish(head);
  return head;
}

}  // namespace amber::virtio::testing
