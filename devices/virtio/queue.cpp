#include "virtio/queue.h"

#include <atomic>

#include "virtio/virtio_spec.h"

namespace amber::virtio {

namespace {
// Offsets inside the rings (§2.7.6, §2.7.8).
constexpr uint64_t kRingIdx = 2;
constexpr uint64_t kRingStart = 4;

uint64_t avail_size(uint16_t n) { return 6 + 2 * uint64_t(n); }
uint64_t used_size(uint16_t n) { return 6 + kUsedElemSize * uint64_t(n); }
}  // namespace

std::string_view Queue::check_layout(const QueueState& s, uint16_t max_size, const GuestMemory& mem) noexcept {
  // §2.7: "Queue Size value is always a power of 2"; §4.2.2: at most QueueNumMax.
  if (s.size == 0 || s.size > max_size || (s.size & (s.size - 1)) != 0) return "queue size is not a power of two up to QueueNumMax";
  // §2.7 table "Virtqueue Part Alignment": 16 / 2 / 4.
  if (s.desc % 16 || s.driver % 2 || s.device % 4) return "ring address is misaligned";
  if (!mem.try_slice(s.desc, kDescSize * s.size)) return "descriptor table is outside RAM";
  if (!mem.try_slice(s.driver, avail_size(s.size))) return "driver ring is outside RAM";
  if (!mem.try_slice(s.device, used_size(s.size))) return "device ring is outside RAM";
  return {};
}

void Queue::reset() noexcept {
  s_ = QueueState{};
  event_idx_ = indirect_ = false;
  error_ = {};
}

void Queue::set_broken(std::string_view why) noexcept { fail(why); }

bool Queue::fail(std::string_view why) noexcept {
  s_.broken = true;
  error_ = why;
  return false;
}

PopStatus Queue::pop(const GuestMemory& mem, Chain& out) noexcept {
  if (s_.broken) return PopStatus::kBroken;
  if (!s_.ready || s_.size == 0) return PopStatus::kEmpty;
  auto avail_idx = mem.read_obj<uint16_t>(s_.driver + kRingIdx);  // guest-controlled
  if (!avail_idx) return fail("driver ring is outside RAM"), PopStatus::kBroken;
  if (*avail_idx == s_.last_avail) {
    if (!event_idx_) return PopStatus::kEmpty;
    // §2.7.10: tell the driver which index to notify at, then look again so
    // a buffer published in between is not left waiting for a notification
    // that will never come (the full barrier orders our store before the load).
    mem.write_obj<uint16_t>(s_.device + kRingStart + kUsedElemSize * s_.size, s_.last_avail);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    avail_idx = mem.read_obj<uint16_t>(s_.driver + kRingIdx);
    if (!avail_idx || *avail_idx == s_.last_avail) return PopStatus::kEmpty;
  }
  // guest-controlled: a driver never has more than Queue Size buffers
  // outstanding (§2.7.13.3), so a larger jump is corruption, not work.
  if (uint16_t(*avail_idx - s_.last_avail) > s_.size) return fail("driver ring index moved by more than the queue size"), PopStatus::kBroken;
  // §2.7.13.3.1: read the ring entry and descriptors only after the index.
  std::atomic_thread_fence(std::memory_order_acquire);
  auto head = mem.read_obj<uint16_t>(s_.driver + kRingStart + 2 * uint64_t(s_.last_avail % s_.size));  // guest-controlled
  if (!head || *head >= s_.size) return fail("driver ring entry is not a descriptor index"), PopStatus::kBroken;
  if (!walk(mem, *head, out)) return PopStatus::kBroken;
  ++s_.last_avail;
  return PopStatus::kChain;
}

bool Queue::walk(const GuestMemory& mem, uint16_t head, Chain& out) noexcept {
  out.head = head;
  out.buffers.clear();
  // At most size + kMaxIndirect buffers; reserving once keeps push_back
  // from allocating inside the walk.
  out.buffers.reserve(uint32_t(s_.size) + kMaxIndirect);
  uint64_t table = s_.desc;
  uint32_t table_len = s_.size;
  uint32_t index = head;
  uint32_t visited = 0;
  bool in_indirect = false, seen_writable = false;
  for (;;) {
    // §2.7.5.2 / §2.7.5.3.1: a chain is never longer than its table (the
    // queue, or the indirect table); a longer walk is a loop.
    if (++visited > table_len) return fail("descriptor chain loops or is longer than the queue");
    auto d = mem.read_obj<RawDesc>(table + kDescSize * index);  // guest-controlled
    if (!d) return fail("descriptor is outside RAM");
    if (d->flags & kDescFlagIndirect) {
      // §2.7.5.3.1: only with the feature, never nested, never with NEXT,
      // and the table length is a multiple of 16.
      if (!indirect_) return fail("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
      if (in_indirect) return fail("indirect descriptor inside an indirect table");
      if (d->flags & kDescFlagNext) return fail("indirect descriptor with NEXT set");
      if (d->len == 0 || d->len % kDescSize || d->len / kDescSize > kMaxIndirect) return fail("bad indirect table length");
      if (!mem.try_slice(d->addr, d->len)) return fail("indirect table is outside RAM");
      table = d->addr;
      table_len = d->len / kDescSize;
      index = 0;
      visited = 0;
      in_indirect = true;
      continue;
    }
    bool writable = d->flags & kDescFlagWrite;
    // §2.7.5.2: device-writable buffers come after all device-readable ones.
    if (!writable && seen_writable) return fail("readable descriptor after a writable one");
    seen_writable |= writable;
    out.buffers.push_back(Buffer{d->addr, d->len, writable});
    if (!(d->flags & kDescFlagNext)) return true;
    if (d->next >= table_len) return fail("descriptor next index is out of range");
    index = d->next;
  }
}

bool Queue::add_used(const GuestMemory& mem, uint16_t head, uint32_t len) noexcept {
  if (s_.broken || s_.size == 0) return false;
  uint64_t elem = s_.device + kRingStart + kUsedElemSize * (s_.next_used % s_.size);
  struct {
    uint32_t id, len;
  } e{head, len};
  if (!mem.write_obj(elem, e)) return fail("device ring is outside RAM");
  // §2.7.8.2: the entry must be visible before the index that publishes it.
  std::atomic_thread_fence(std::memory_order_release);
  ++s_.next_used;
  if (!mem.write_obj<uint16_t>(s_.device + kRingIdx, s_.next_used)) return fail("device ring is outside RAM");
  return true;
}

bool Queue::needs_interrupt(const GuestMemory& mem) noexcept {
  // §2.7.10 / §2.7.7.2: the used index store must be visible before we read
  // the driver's suppression state, or an interrupt could be lost.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    auto flags = mem.read_obj<uint16_t>(s_.driver);  // guest-controlled
    return !flags || !(*flags & kAvailFlagNoInterrupt);
  }
  uint16_t old = s_.signalled_used;
  bool valid = s_.signalled_used_valid;
  uint16_t now = s_.next_used;
  s_.signalled_used = now;
  s_.signalled_used_valid = true;
  if (!valid) return true;
  auto event = mem.read_obj<uint16_t>(s_.driver + kRingStart + 2 * uint64_t(s_.size));  // guest-controlled
  if (!event) return true;
  // vring_need_event(): interrupt when used_event lies in (old, now].
  return uint16_t(now - *event - 1) < uint16_t(now - old);
}

}  // namespace amber::virtio
