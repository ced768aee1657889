#pragma once
// A virtio-mmio driver for tests: register access and the initialization
// sequence of virtio 1.2 §3.1.1 / §4.2.3.
#include <cstring>

#include "amber/irq.h"
#include "amber/fake/recording_irq.h"
#include "virtio/mmio_transport.h"
#include "virtio/testing/fake_driver.h"
#include "virtio/virtio_spec.h"

namespace amber::virtio::testing {

using amber::fake::RecordingIrq;

class MmioDriver {
 public:
  explicit MmioDriver(MmioTransport& t) : t_(t) {}

  uint32_t read32(uint64_t off) {
    uint32_t v = 0;
    t_.read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void write32(uint64_t off, uint32_t v) { t_.write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }
  void write64(uint64_t low_off, uint64_t v) {
    write32(low_off, uint32_t(v));
    write32(low_off + 4, uint32_t(v >> 32));
  }

  uint64_t device_features() {
    write32(mmio::kDeviceFeaturesSel, 0);
    uint64_t lo = read32(mmio::kDeviceFeatures);
    write32(mmio::kDeviceFeaturesSel, 1);
    return lo | (uint64_t(read32(mmio::kDeviceFeatures)) << 32);
  }

  // Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. Returns whether the
  // device kept FEATURES_OK set.
  bool negotiate(uint64_t features) {
    write32(mmio::kStatus, 0);
    write32(mmio::kStatus, kStatusAcknowledge);
    write32(mmio::kStatus, kStatusAcknowledge | kStatusDriver);
    write32(mmio::kDriverFeaturesSel, 0);
    write32(mmio::kDriverFeatures, uint32_t(features));
    write32(mmio::kDriverFeaturesSel, 1);
    write32(mmio::kDriverFeatures, uint32_t(features >> 32));
    write32(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return read32(mmio::kStatus) & kStatusFeaturesOk;
  }

  void setup_queue(uint32_t index, const FakeDriver& q) {
    write32(mmio::kQueueSel, index);
    write32(mmio::kQueueNum, q.size());
    write64(mmio::kQueueDescLow, q.desc_addr());
    write64(mmio::kQueueDriverLow, q.avail_addr());
    write64(mmio::kQueueDeviceLow, q.used_addr());
    write32(mmio::kQueueReady, 1);
  }

  void driver_ok() {
    write32(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }

  // The whole sequence with one queue.
  bool start(uint64_t features, const FakeDriver& q) {
    if (!negotiate(features)) return false;
    setup_queue(0, q);
    driver_ok();
    return read32(mmio::kQueueReady) == 1 && (read32(mmio::kStatus) & kStatusDriverOk);
  }

  void notify(uint32_t queue) { write32(mmio::kQueueNotify, queue); }

 private:
  MmioTransport& t_;
};

}  // namespace amber::virtio::testing
