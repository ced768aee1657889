#pragma once
// Device side of a split virtqueue (virtio 1.2 §2.7): the descriptor table,
// the driver ("avail") ring and the device ("used") ring live in guest
// memory and every value read from them is guest-controlled. The chain
// walker is bounded: a chain never visits more descriptors than the queue
// (or its indirect table) holds, so loops and absurd lengths end in an error
// instead of a hang.
#include <cstdint>
#include <string_view>
#include <vector>

#include "amber/guest_memory.h"

namespace amber::virtio {

// One buffer of a descriptor chain, as the driver described it. addr/len are
// guest-controlled and not yet checked against RAM: the device slices them
// with GuestMemory::try_slice when it uses them.
struct Buffer {
  uint64_t addr = 0;
  uint32_t len = 0;
  bool writable = false;
};

struct Chain {
  uint16_t head = 0;  // descriptor index to return in the used ring
  std::vector<Buffer> buffers;  // readable buffers first, then writable ones
};

// virtio 1.2 §2.7.5: struct virtq_desc, little-endian like the x86 host.
struct RawDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(RawDesc) == 16);

enum class PopStatus {
  kChain,   // `out` holds the next chain
  kEmpty,   // nothing published
  kBroken,  // the queue is broken (now or earlier): the driver violated a
            // MUST of §2.7.5.3 / §2.7.13 and the device needs a reset
};

// Serializable queue state (transport snapshot, docs/disks.md).
struct QueueState {
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc = 0, driver = 0, device = 0;
  uint16_t last_avail = 0, next_used = 0;
  uint16_t signalled_used = 0;
  bool signalled_used_valid = false;
  bool broken = false;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("size", s.size)("ready", s.ready)("desc", s.desc)("driver", s.driver)("device", s.device);
    ar("last_avail", s.last_avail)("next_used", s.next_used);
    ar("signalled_used", s.signalled_used)("signalled_used_valid", s.signalled_used_valid)("broken", s.broken);
  }
  bool operator==(const QueueState&) const = default;
};

class Queue {
 public:
  // Indirect tables hold at most this many descriptors (Linux sizes them by
  // the scatter list, bounded by seg_max + 2 for virtio-blk).
  static constexpr uint32_t kMaxIndirect = 1024;

  explicit Queue(uint16_t max_size) : max_size_(max_size) {}

  // ---- Configuration (transport registers) ----
  uint16_t max_size() const noexcept { return max_size_; }
  const QueueState& state() const noexcept { return s_; }
  QueueState& config() noexcept { return s_; }  // transport writes size/addresses while not ready
  // Negotiated ring features, set when the driver sets DRIVER_OK.
  void set_features(bool event_idx, bool indirect) noexcept {
    event_idx_ = event_idx;
    indirect_ = indirect;
  }
  // Empty string when size and ring addresses are usable with `mem`;
  // otherwise why not (§2.7: power-of-two size, alignments 16/2/4).
  static std::string_view check_layout(const QueueState& s, uint16_t max_size, const GuestMemory& mem) noexcept;
  // Replaces the whole state (restore); the caller validated it.
  void set_state(const QueueState& s) noexcept { s_ = s; }
  void reset() noexcept;

  // ---- Device side ----
  // Takes the next published chain. On a malformed chain the queue becomes
  // broken (error() says why) and kBroken is returned.
  PopStatus pop(const GuestMemory& mem, Chain& out) noexcept;
  // Returns a chain to the driver with `len` bytes written into its
  // writable buffers (§2.7.8). False when the used ring is outside RAM (the
  // queue is then broken).
  bool add_used(const GuestMemory& mem, uint16_t head, uint32_t len) noexcept;
  // Pops every published chain into `chain` and returns it with the used
  // length serve(chain) gives; true if any was returned. pop() hands out at
  // most queue-size chains per avail index update, so a driver that never
  // consumes cannot keep this going. For devices whose requests never fail
  // as a whole (rng, 9p).
  template <class Serve>
  bool serve_all(const GuestMemory& mem, Chain& chain, Serve&& serve) noexcept {
    bool used = false;
    while (pop(mem, chain) == PopStatus::kChain) {
      if (!add_used(mem, chain.head, serve(chain))) break;
      used = true;
    }
    return used;
  }
  // Whether the driver wants an interrupt for the used entries added since
  // the last call: EVENT_IDX's used_event (§2.7.10) or, without it, the
  // VIRTQ_AVAIL_F_NO_INTERRUPT flag (§2.7.7).
  bool needs_interrupt(const GuestMemory& mem) noexcept;
  // Marks the queue unusable until reset (a device-level request error the
  // device cannot report in-band).
  void set_broken(std::string_view why) noexcept;
  bool broken() const noexcept { return s_.broken; }
  std::string_view error() const noexcept { return error_; }

 private:
  bool walk(const GuestMemory& mem, uint16_t head, Chain& out) noexcept;
  bool fail(std::string_view why) noexcept;

  uint16_t max_size_;
  QueueState s_;
  bool event_idx_ = false;
  bool indirect_ = false;
  std::string_view error_;  // static strings only
};

}  // namespace amber::virtio
