#include "virtio/mmio_transport.h"

#include <cstring>

#include "virtio/virtio_spec.h"

namespace amber::virtio {

namespace {
constexpr uint32_t kKnownStatus =
    kStatusAcknowledge | kStatusDriver | kStatusDriverOk | kStatusFeaturesOk | kStatusNeedsReset | kStatusFailed;
constexpr uint64_t kTransportFeatures = kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx;

uint32_t low(uint64_t v) { return uint32_t(v); }
uint32_t high(uint64_t v) { return uint32_t(v >> 32); }
uint64_t set_low(uint64_t v, uint32_t x) { return (v & ~0xffff'ffffull) | x; }
uint64_t set_high(uint64_t v, uint32_t x) { return (v & 0xffff'ffffull) | (uint64_t(x) << 32); }
}  // namespace

MmioTransport::MmioTransport(std::string name, const GuestMemory& mem, IrqLine& irq, std::unique_ptr<VirtioDevice> dev)
    : name_(std::move(name)), mem_(mem), irq_(irq), dev_(std::move(dev)) {
  if (!dev_) throw Error(fmt::format("{}: no virtio device", name_));
  uint32_t n = dev_->num_queues();
  uint16_t max = dev_->queue_max_size();
  if (n == 0 || n > kMaxQueues) throw Error(fmt::format("{}: {} queues is out of range", name_, n));
  if (max == 0 || max > kMaxQueueSize || (max & (max - 1))) throw Error(fmt::format("{}: bad queue size {}", name_, max));
  device_features_ = dev_->features() | kTransportFeatures;
  queues_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) queues_.emplace_back(max);
}

// ---- Register access ------------------------------------------------------

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  if (offset >= mmio::kConfig) {
    dev_->read_config(offset - mmio::kConfig, data);
    return;
  }
  // §4.2.2.2: the driver MUST use 32-bit wide, aligned accesses here.
  if (data.size() != 4 || offset % 4) {  // guest-controlled
    log::guest_warn(warn_limit_, "{}: {}-byte read at {:#x} is not a 32-bit register access", name_, data.size(), offset);
    std::memset(data.data(), 0, data.size());
    return;
  }
  uint32_t v = read_reg(offset);
  std::memcpy(data.data(), &v, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) noexcept {
  uint32_t notify_queue = UINT32_MAX;
  {
    std::lock_guard lock(mu_);
    if (offset >= mmio::kConfig) {
      dev_->write_config(offset - mmio::kConfig, data);
      return;
    }
    if (data.size() != 4 || offset % 4) {  // guest-controlled
      log::guest_warn(warn_limit_, "{}: {}-byte write at {:#x} is not a 32-bit register access", name_, data.size(), offset);
      return;
    }
    uint32_t v;
    std::memcpy(&v, data.data(), 4);
    if (offset == mmio::kQueueNotify)
      notify_queue = v;  // guest-controlled; checked in notify()
    else
      write_reg(offset, v);
  }
  if (notify_queue != UINT32_MAX) notify(notify_queue);
}

uint32_t MmioTransport::read_reg(uint64_t offset) const noexcept {
  const Queue* q = selected();
  switch (offset) {
    case mmio::kMagicValue: return kMmioMagic;
    case mmio::kVersion: return kMmioVersion;
    case mmio::kDeviceId: return dev_->device_type();
    case mmio::kVendorId: return kAmberVendorId;
    case mmio::kDeviceFeatures:
      return device_features_sel_ == 0 ? low(device_features_) : device_features_sel_ == 1 ? high(device_features_) : 0;
    case mmio::kQueueNumMax: return q ? q->max_size() : 0;  // 0: queue not available (§4.2.3.2)
    case mmio::kQueueNum: return q ? q->state().size : 0;
    case mmio::kQueueReady: return q && q->state().ready ? 1 : 0;
    case mmio::kInterruptStatus: return interrupt_status_;
    case mmio::kStatus: return status_;
    case mmio::kQueueDescLow: return q ? low(q->state().desc) : 0;
    case mmio::kQueueDescHigh: return q ? high(q->state().desc) : 0;
    case mmio::kQueueDriverLow: return q ? low(q->state().driver) : 0;
    case mmio::kQueueDriverHigh: return q ? high(q->state().driver) : 0;
    case mmio::kQueueDeviceLow: return q ? low(q->state().device) : 0;
    case mmio::kQueueDeviceHigh: return q ? high(q->state().device) : 0;
    case mmio::kConfigGeneration: return config_generation_;
    default:
      // §4.2.2: SHMLen/SHMBase of a region that does not exist read as -1.
      if (offset >= mmio::kShmLenLow && offset <= mmio::kShmBaseHigh) return UINT32_MAX;
      return 0;
  }
}

void MmioTransport::write_reg(uint64_t offset, uint32_t v) noexcept {
  switch (offset) {
    case mmio::kDeviceFeaturesSel: device_features_sel_ = v; return;
    case mmio::kDriverFeaturesSel: driver_features_sel_ = v; return;
    case mmio::kDriverFeatures:
      // §3.1.1: features are fixed once FEATURES_OK is set.
      if (status_ & kStatusFeaturesOk) {
        log::guest_warn(warn_limit_, "{}: DriverFeatures written after FEATURES_OK", name_);
        return;
      }
      if (driver_features_sel_ == 0) driver_features_ = set_low(driver_features_, v);
      if (driver_features_sel_ == 1) driver_features_ = set_high(driver_features_, v);
      return;
    case mmio::kQueueSel: queue_sel_ = v; return;  // guest-controlled; checked by selected()
    case mmio::kInterruptAck: interrupt_status_ &= ~v; return;
    case mmio::kStatus: write_status(v); return;
    case mmio::kQueueNum:
    case mmio::kQueueReady:
    case mmio::kQueueDescLow:
    case mmio::kQueueDescHigh:
    case mmio::kQueueDriverLow:
    case mmio::kQueueDriverHigh:
    case mmio::kQueueDeviceLow:
    case mmio::kQueueDeviceHigh: write_queue_reg(offset, v); return;
    case mmio::kShmSel: return;
    default: log::guest_warn(warn_limit_, "{}: write of {:#x} to read-only or unknown register {:#x}", name_, v, offset);
  }
}

void MmioTransport::write_queue_reg(uint64_t offset, uint32_t v) noexcept {
  Queue* q = selected();
  if (!q) {
    log::guest_warn(warn_limit_, "{}: queue register {:#x} written for missing queue {}", name_, offset, queue_sel_);
    return;
  }
  QueueState& s = q->config();
  if (offset == mmio::kQueueReady) {
    if (v == 0) {
      s.ready = false;
      return;
    }
    // Validate the layout once, when the driver enables the queue, so the
    // hot path only has to check indices (§4.2.3.2).
    if (auto why = Queue::check_layout(s, q->max_size(), mem_); !why.empty()) {
      log::guest_warn(warn_limit_, "{}: queue {} not enabled: {}", name_, queue_sel_, why);
      return;
    }
    s.ready = true;
    return;
  }
  // §4.2.3.2: the layout may change only while the queue is not ready.
  if (s.ready) {
    log::guest_warn(warn_limit_, "{}: queue {} register {:#x} written while ready", name_, queue_sel_, offset);
    return;
  }
  switch (offset) {
    case mmio::kQueueNum: s.size = uint16_t(v > 0xffff ? 0 : v); return;  // checked at QueueReady
    case mmio::kQueueDescLow: s.desc = set_low(s.desc, v); return;
    case mmio::kQueueDescHigh: s.desc = set_high(s.desc, v); return;
    case mmio::kQueueDriverLow: s.driver = set_low(s.driver, v); return;
    case mmio::kQueueDriverHigh: s.driver = set_high(s.driver, v); return;
    case mmio::kQueueDeviceLow: s.device = set_low(s.device, v); return;
    case mmio::kQueueDeviceHigh: s.device = set_high(s.device, v); return;
  }
}

bool MmioTransport::features_acceptable(uint64_t f) const noexcept {
  // Only offered bits, and VERSION_1: this is not a legacy device (§6.1).
  return (f & ~device_features_) == 0 && (f & kFeatureVersion1);
}

void MmioTransport::write_status(uint32_t v) noexcept {
  if (v == 0) {  // §2.1.2 / §4.2.2: writing 0 resets the device
    reset_locked();
    return;
  }
  v &= ~kStatusNeedsReset;  // device-owned bit
  uint32_t cur = status_ & ~kStatusNeedsReset;
  // §2.1.1: the driver MUST NOT clear a device status bit (only reset does).
  if ((cur & ~v) != 0 || (v & ~kKnownStatus) != 0) {
    log::guest_warn(warn_limit_, "{}: status {:#x} -> {:#x} ignored", name_, status_, v);
    return;
  }
  uint32_t added = v & ~cur;
  if (added & kStatusFeaturesOk) {
    // §3.1.1 step 6: leaving FEATURES_OK clear tells the driver we refuse.
    if (!features_acceptable(driver_features_)) {
      log::guest_warn(warn_limit_, "{}: driver features {:#x} refused (offered {:#x})", name_, driver_features_, device_features_);
      v &= ~kStatusFeaturesOk;
    }
  }
  if ((added & kStatusDriverOk) && !(v & kStatusFeaturesOk)) {
    log::guest_warn(warn_limit_, "{}: DRIVER_OK without FEATURES_OK ignored", name_);
    v &= ~kStatusDriverOk;
  }
  status_ = v | (status_ & kStatusNeedsReset);
}

void MmioTransport::reset_locked() noexcept {
  status_ = 0;
  device_features_sel_ = driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
  for (auto& q : queues_) q.reset();
  dev_->reset();
}

// ---- Notifications and interrupts -----------------------------------------

void MmioTransport::notify(uint32_t queue) noexcept {
  std::lock_guard lock(mu_);
  process_locked(queue);
}

void MmioTransport::process_locked(uint32_t index) noexcept {
  if (index >= queues_.size()) {  // guest-controlled
    log::guest_warn(warn_limit_, "{}: notify for missing queue {}", name_, index);
    return;
  }
  Queue& q = queues_[index];
  if (!(status_ & kStatusDriverOk) || (status_ & kStatusNeedsReset) || !q.state().ready) return;
  // DRIVER_OK implies FEATURES_OK, so the features are final here.
  q.set_features(driver_features_ & kFeatureEventIdx, driver_features_ & kFeatureIndirectDesc);
  bool used = dev_->process_queue(index, q, mem_);
  if (used && !q.broken() && q.needs_interrupt(mem_)) {
    interrupt_status_ |= kInterruptUsedBuffer;
    irq_.trigger();
  } else if (used && q.broken()) {
    interrupt_status_ |= kInterruptUsedBuffer;
  }
  if (q.broken()) needs_reset_locked(q.error());
}

void MmioTransport::needs_reset_locked(std::string_view why) noexcept {
  log::guest_warn(warn_limit_, "{}: device needs reset: {}", name_, why);
  // §2.1.2: set DEVICE_NEEDS_RESET and send a configuration change notification.
  status_ |= kStatusNeedsReset;
  interrupt_status_ |= kInterruptConfigChange;
  irq_.trigger();
}

}  // namespace amber::virtio
