#pragma once
// virtio-mmio transport, version 2 (virtio 1.2 §4.2): the register window a
// driver probes, negotiates features through and sets queues up with.
//
// Notifications: the VMM registers an ioeventfd at base + QueueNotify (0x50)
// with datamatch = queue index and calls notify(queue) from its I/O thread
// when it fires; a QueueNotify write that still reaches write() (no
// ioeventfd support) calls notify() directly. Interrupts are edges on an
// irqfd line.
//
// Snapshot rule (docs/disks.md): requests are served synchronously inside
// notify(), so once the VMM's I/O thread is parked and the vCPUs are paused
// nothing is in flight and save() sees a quiescent device. After restore()
// the VMM calls notify() once for every ready queue so that chains published
// but not yet served before the snapshot are served.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "amber/device.h"
#include "amber/guest_memory.h"
#include "amber/irq.h"
#include "amber/log.h"
#include "virtio/queue.h"
#include "virtio/virtio_device.h"

namespace amber::virtio {

// The transport's snapshot, one property per register plus one child per queue.
struct TransportState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t status = 0;
  uint32_t device_features_sel = 0, driver_features_sel = 0;
  uint64_t driver_features = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  std::vector<QueueState> queues;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("version", s.version)("status", s.status)("device_features_sel", s.device_features_sel);
    ar("driver_features_sel", s.driver_features_sel)("driver_features", s.driver_features);
    ar("queue_sel", s.queue_sel)("interrupt_status", s.interrupt_status)("config_generation", s.config_generation);
    ar("queue", s.queues, /*max=*/64);
  }
  bool operator==(const TransportState&) const = default;
};

class MmioTransport : public Device {
 public:
  static constexpr uint32_t kMaxQueues = 64;

  MmioTransport(std::string name, const GuestMemory& mem, IrqLine& irq, std::unique_ptr<VirtioDevice> dev);

  std::string_view name() const override { return name_; }
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;

  // Serves queue `queue` (ioeventfd fired, or QueueNotify written).
  void notify(uint32_t queue) noexcept;

  StateNode save() const override;
  void restore(const StateNode& node) override;

  uint32_t num_queues() const noexcept { return uint32_t(queues_.size()); }
  uint64_t device_features() const noexcept { return device_features_; }
  TransportState state() const;
  VirtioDevice& device() noexcept { return *dev_; }

 private:
  uint32_t read_reg(uint64_t offset) const noexcept;
  void write_reg(uint64_t offset, uint32_t value) noexcept;
  void write_status(uint32_t value) noexcept;
  void write_queue_reg(uint64_t offset, uint32_t value) noexcept;
  bool features_acceptable(uint64_t f) const noexcept;
  void reset_locked() noexcept;
  void process_locked(uint32_t queue) noexcept;
  void needs_reset_locked(std::string_view why) noexcept;
  Queue* selected() noexcept { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }
  const Queue* selected() const noexcept { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

  std::string name_;
  const GuestMemory& mem_;
  IrqLine& irq_;
  std::unique_ptr<VirtioDevice> dev_;
  uint64_t device_features_;

  mutable std::mutex mu_;  // guards everything below and dev_'s state
  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0, driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
  std::vector<Queue> queues_;
  mutable log::RateLimit warn_limit_;
};

}  // namespace amber::virtio
