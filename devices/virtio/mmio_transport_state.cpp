// Snapshot of the virtio-mmio transport: save, and restore with validation
// (an image is untrusted input, design-notes §3).
#include "virtio/mmio_transport.h"
#include "virtio/virtio_spec.h"

namespace amber::virtio {

namespace {
constexpr uint32_t kKnownStatus =
    kStatusAcknowledge | kStatusDriver | kStatusDriverOk | kStatusFeaturesOk | kStatusNeedsReset | kStatusFailed;
}

TransportState MmioTransport::state() const {
  std::lock_guard lock(mu_);
  TransportState s;
  s.status = status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.driver_features = driver_features_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = interrupt_status_;
  s.config_generation = config_generation_;
  for (auto& q : queues_) s.queues.push_back(q.state());
  return s;
}

StateNode MmioTransport::save() const {
  StateNode node = save_state(state());
  std::lock_guard lock(mu_);
  node.children["device"] = dev_->save();
  return node;
}

void MmioTransport::restore(const StateNode& node) {
  auto s = load_state<TransportState>(node, name_);
  auto bad = [&](const std::string& why) { return Error(fmt::format("image: {} state is invalid: {}", name_, why)); };
  if (s.version > TransportState::kVersion) throw bad(fmt::format("version {} is newer than {}", s.version, TransportState::kVersion));
  if (s.queues.size() != queues_.size()) throw bad(fmt::format("{} queues, the device has {}", s.queues.size(), queues_.size()));
  if (s.status & ~kKnownStatus) throw bad(fmt::format("unknown status bits {:#x}", s.status));
  if ((s.status & kStatusDriverOk) && !(s.status & kStatusFeaturesOk)) throw bad("DRIVER_OK without FEATURES_OK");
  // Before FEATURES_OK DriverFeatures is only a register the driver may
  // still rewrite; once accepted it must be a subset of what we offer.
  if ((s.status & kStatusFeaturesOk) && (s.driver_features & ~device_features_)) throw bad(fmt::format("driver features {:#x} were not offered", s.driver_features));
  if ((s.status & kStatusFeaturesOk) && !(s.driver_features & kFeatureVersion1)) throw bad("FEATURES_OK without VERSION_1");
  if (s.interrupt_status & ~(kInterruptUsedBuffer | kInterruptConfigChange)) throw bad("unknown interrupt status bits");
  uint16_t max = dev_->queue_max_size();
  for (size_t i = 0; i < s.queues.size(); ++i) {
    const QueueState& q = s.queues[i];
    // A queue that is not ready holds whatever the driver wrote to QueueNum
    // and the address registers; they are checked when it becomes ready.
    if (q.ready) {
      if (auto why = Queue::check_layout(q, max, mem_); !why.empty()) throw bad(fmt::format("queue {}: {}", i, why));
      // A ready queue cannot hold more than `size` outstanding buffers.
      if (uint16_t(q.last_avail - q.next_used) > q.size) throw bad(fmt::format("queue {} has more in flight than its size", i));
    }
  }
  std::lock_guard lock(mu_);
  // The device validates its own node and is unchanged when it throws; the
  // transport state is committed only after that, so a bad image changes nothing.
  dev_->restore(node.require_child("device"));
  status_ = s.status;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  driver_features_ = s.driver_features;
  queue_sel_ = s.queue_sel;
  interrupt_status_ = s.interrupt_status;
  config_generation_ = s.config_generation;
  for (size_t i = 0; i < queues_.size(); ++i) {
    queues_[i].reset();
    queues_[i].set_features(s.driver_features & kFeatureEventIdx, s.driver_features & kFeatureIndirectDesc);
    queues_[i].set_state(s.queues[i]);
    if (s.queues[i].broken) queues_[i].set_broken("broken before the snapshot");
  }
  // An interrupt the device raised just before the save may still have been
  // on its way (an irqfd injects from a kernel work item), so the saved
  // interrupt controller state need not hold it: raise it again. A spurious
  // one is harmless: the driver reads InterruptStatus (virtio 1.2 4.2.3.4)
  // and acknowledges what is there. Devices restore after the VM and vCPU
  // state (Machine::restore_state), so the injection is not overwritten.
  if (interrupt_status_) irq_.trigger();
}

}  // namespace amber::virtio
