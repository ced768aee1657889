#include "vmm/device_registry.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/layout.h"
#include "amber/unique_fd.h"
#include "virtio/mmio_transport.h"
#include "virtio/virtio_device.h"
#include "virtio/virtio_spec.h"
#include "vmm/io_thread.h"

namespace amber::vmm {

IrqLine& DeviceRegistry::level_irq(uint32_t gsi) {
  irqs_.push_back(vm_.irq_line(gsi));
  return *irqs_.back();
}

DeviceEntry& DeviceRegistry::add(std::unique_ptr<Device> dev, BusKind bus, uint64_t base, uint64_t size, State state,
                                 std::optional<uint32_t> gsi) {
  std::string name(dev->name());
  for (auto& e : entries_)
    if (e.name == name) throw Error(fmt::format("device registry: two devices named '{}'", name));
  (bus == BusKind::kPio ? pio_ : mmio_).insert(*dev, base, size);
  DeviceEntry e;
  e.name = std::move(name);
  e.device = dev.get();
  e.bus = bus;
  e.base = base;
  e.size = size;
  e.gsi = gsi;
  if (state == State::kSaved) {
    Device* d = dev.get();
    e.save = [d] { return d->save(); };
    e.restore = [d](const StateNode& n) { d->restore(n); };
  }
  devices_.push_back(std::move(dev));
  entries_.push_back(std::move(e));
  return entries_.back();
}

void DeviceRegistry::add_pio_device(std::unique_ptr<Device> dev, uint16_t port, uint64_t size, State state,
                                    std::optional<uint32_t> gsi) {
  add(std::move(dev), BusKind::kPio, port, size, state, gsi);
}

virtio::MmioTransport& DeviceRegistry::add_virtio(std::string name, std::unique_ptr<virtio::VirtioDevice> dev) {
  size_t i = virtio_count_;
  uint64_t base = layout::kVirtioMmioBase + i * layout::kVirtioMmioSize;
  uint32_t gsi = layout::kVirtioFirstIrq + uint32_t(i);
  if (base + layout::kVirtioMmioSize > layout::kIoapicAddr)
    throw Error(fmt::format("device registry: no virtio-mmio window left for '{}'", name));
  irqs_.push_back(vm_.irqfd_line(gsi));
  auto t = std::make_unique<virtio::MmioTransport>(std::move(name), mem_, *irqs_.back(), std::move(dev));
  virtio::MmioTransport& tr = *t;
  DeviceEntry& e = add(std::move(t), BusKind::kMmio, base, layout::kVirtioMmioSize, State::kSaved, gsi);
  e.transport = &tr;
  e.queues = tr.num_queues();
  ++virtio_count_;
  return tr;
}

void DeviceRegistry::settle_irqs() {
  for (auto& l : irqs_) l->settle();
}

void DeviceRegistry::wire_ioeventfds(IoThread& io) {
  for (auto& e : entries_) {
    for (uint32_t q = 0; q < e.queues; ++q) {
      // A QueueNotify write of `q` wakes the I/O thread instead of exiting
      // to userspace on the vCPU thread.
      UniqueFd efd(check_sys(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
      // Without ioeventfds, notifications arrive as MMIO writes (the
      // transport handles them), and no other registration can succeed.
      if (!vm_.add_ioeventfd(e.base + virtio::mmio::kQueueNotify, 4, q, efd.get())) return;
      io.add(efd.release(), [t = e.transport, q] { t->notify(q); });
    }
  }
}

void DeviceRegistry::notify_all_queues() {
  for (auto& e : entries_)
    for (uint32_t q = 0; q < e.queues; ++q) e.transport->notify(q);
}

StateNode DeviceRegistry::save() const {
  StateNode devs;
  for (auto& e : entries_)
    if (e.save) devs.children[e.name] = e.save();
  return devs;
}

void DeviceRegistry::restore(const StateNode& devs) {
  for (auto& e : entries_)
    if (e.restore) e.restore(devs.require_child(e.name));
}

std::string DeviceRegistry::virtio_cmdline() const {
  std::string s;
  for (auto& e : entries_) {
    if (!e.transport) continue;
    // Linux's virtio_mmio.device=<size>@<base>:<irq> (drivers/virtio/virtio_mmio.c).
    s += fmt::format("{}virtio_mmio.device={}K@{:#x}:{}", s.empty() ? "" : " ", e.size / 1024, e.base, *e.gsi);
  }
  return s;
}

}  // namespace amber::vmm
