#pragma once
// A virtio device behind a transport (virtio 1.2 §2-§5). The transport
// (mmio_transport.h) owns status, feature negotiation, queues and
// interrupts; the device owns its config space and serves its queues.
//
// Threading: the transport calls every method with its own mutex held, so
// a device needs no locking of its own.
#include <cstdint>
#include <span>

#include "amber/guest_memory.h"
#include "amber/state.h"
#include "virtio/queue.h"

namespace amber::virtio {

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  // §5: device ID (2 for block).
  virtual uint32_t device_type() const noexcept = 0;
  // Device-specific feature bits. The transport adds VIRTIO_F_VERSION_1,
  // VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX, which it implements.
  virtual uint64_t features() const noexcept = 0;
  virtual uint32_t num_queues() const noexcept = 0;
  virtual uint16_t queue_max_size() const noexcept = 0;

  // Device configuration space (§4.2.2 offset 0x100+). Out-of-range bytes
  // read as zero and writes to them are ignored.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const noexcept = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) noexcept = 0;

  // Serves every chain published on queue `index`. Returns whether the used
  // ring changed. A request the device cannot answer in-band breaks the
  // queue (Queue::set_broken); the transport then asks for a reset.
  virtual bool process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept = 0;

  // The driver wrote 0 to Status (§2.1.2): drop any device-side state.
  virtual void reset() noexcept = 0;

  // Device-specific state, saved as the child "device" of the transport's node.
  virtual StateNode save() const = 0;
  // Throws Error when the node does not fit this device; unchanged then.
  virtual void restore(const StateNode& node) = 0;
};

}  // namespace amber::virtio
