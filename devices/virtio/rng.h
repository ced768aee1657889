#pragma once
// virtio entropy device, "virtio-rng" (virtio 1.2 §5.4): one queue of
// device-writable buffers that the device fills with random bytes from the
// host's getrandom(2).
//
// Why amber has it: clones resumed from one image start with the same guest
// CRNG state. The bytes this device hands out come from the host at the
// moment of the request, never from the image, so each clone's guest gets
// its own fresh entropy after resume or reset (docs/entropy.md).
//
// Like virtio-blk, requests are served synchronously inside process_queue()
// and nothing stays in flight, so the device has no state to save.
#include <cstdint>
#include <span>

#include "amber/log.h"
#include "virtio/virtio_device.h"
#include "virtio/virtio_spec.h"

namespace amber::virtio {

class Rng : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 64;
  // Bytes filled per request at most (§5.4.6.1: the device MAY use less than
  // the whole buffer). Bounds the host work a guest can ask for per chain.
  static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

  // `fill` supplies the random bytes; the default is getrandom(2). Tests
  // pass their own to see exactly what reaches the guest.
  using Fill = bool (*)(std::span<uint8_t> out);
  explicit Rng(Fill fill = nullptr);

  uint32_t device_type() const noexcept override { return kDeviceIdEntropy; }
  uint64_t features() const noexcept override { return 0; }  // §5.4.3: none
  uint32_t num_queues() const noexcept override { return 1; }
  uint16_t queue_max_size() const noexcept override { return kQueueSize; }
  // §5.4.4: no device configuration space.
  void read_config(uint64_t, std::span<uint8_t> data) const noexcept override;
  void write_config(uint64_t, std::span<const uint8_t>) noexcept override {}
  bool process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept override;
  void reset() noexcept override {}
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}

  // The host's getrandom(2), looped until `out` is full.
  static bool host_random(std::span<uint8_t> out) noexcept;

 private:
  uint32_t serve(const Chain& chain, const GuestMemory& mem) noexcept;

  Fill fill_;
  Chain chain_;
  log::RateLimit warn_limit_;
};

}  // namespace amber::virtio
