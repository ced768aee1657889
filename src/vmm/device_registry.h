#pragma once
// Every device of a Machine, in one list (docs/architecture.md, "The device
// registry"). An entry says where the device sits (port or MMIO bus, window
// base and size), its interrupt line, its queue count when it is a virtio
// device, and how its state is saved and restored. The list drives:
//
//   - insertion on the buses (add_pio, add_virtio);
//   - the "devices" node of an image: one child per stateful entry, named
//     after the device ("uart0", "i8042", "cmos", "virtio-blk@0",
//     "virtio-rng"), restored in registration order;
//   - one KVM ioeventfd per queue of each virtio device, datamatch = the
//     queue index on its QueueNotify register, served by the I/O thread;
//   - the notification of every queue after a restore (notify_all_queues);
//   - the kernel's virtio_mmio.device= arguments (virtio_cmdline).
//
// Virtio devices get the next 4 KiB window from layout::kVirtioMmioBase and
// the next GSI from layout::kVirtioFirstIrq, in registration order; the
// Machine registers its devices in one place (Machine::create_devices).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amber/bus.h"
#include "amber/device.h"
#include "amber/guest_memory.h"
#include "amber/irq.h"
#include "amber/state.h"
#include "hv/hypervisor.h"

namespace amber::virtio {
class MmioTransport;
class VirtioDevice;
}  // namespace amber::virtio

namespace amber::vmm {

class IoThread;

enum class BusKind { kPio, kMmio };

struct DeviceEntry {
  std::string name;  // the device's node in an image
  Device* device = nullptr;
  BusKind bus = BusKind::kPio;
  uint64_t base = 0, size = 0;  // its window on `bus`
  std::optional<uint32_t> gsi;  // its interrupt line, if any
  // Virtio devices: the transport at `device`, and how many queues it has.
  virtio::MmioTransport* transport = nullptr;
  uint32_t queues = 0;
  // Save/restore hooks; both empty for a device without state (its node
  // is then neither written nor required).
  std::function<StateNode()> save;
  std::function<void(const StateNode&)> restore;
};

class DeviceRegistry {
 public:
  DeviceRegistry(hv::Vm& vm, const GuestMemory& mem, Bus& pio, Bus& mmio) : vm_(vm), mem_(mem), pio_(pio), mmio_(mmio) {}
  DeviceRegistry(const DeviceRegistry&) = delete;
  DeviceRegistry& operator=(const DeviceRegistry&) = delete;

  // A level-triggered interrupt line (KVM_IRQ_LINE) for a legacy device.
  IrqLine& level_irq(uint32_t gsi);

  enum class State { kSaved, kStateless };
  // A device on the port bus at [port, port + size); `gsi` is the line it
  // drives (from level_irq), if any. Returns the device.
  template <class T>
  T& add_pio(std::unique_ptr<T> dev, uint16_t port, uint64_t size, State state,
             std::optional<uint32_t> gsi = std::nullopt) {
    T& d = *dev;
    add_pio_device(std::move(dev), port, size, state, gsi);
    return d;
  }

  // A virtio device behind a virtio-mmio transport named `name`, in the next
  // window, with the next GSI (an irqfd). Call wire_ioeventfds() once after
  // the last one.
  virtio::MmioTransport& add_virtio(std::string name, std::unique_ptr<virtio::VirtioDevice> dev);

  // One ioeventfd per queue of every virtio device (datamatch = queue
  // index at base + QueueNotify); the I/O thread calls notify(queue) when
  // it fires. Where the hypervisor has no ioeventfds, QueueNotify writes
  // reach the transport as MMIO exits instead.
  void wire_ioeventfds(IoThread& io);

  // Serves every queue of every virtio device once: requests the guest
  // published before the image was taken but that were not served yet
  // (docs/disks.md, snapshot pause rule). After a restore, VM running.
  void notify_all_queues();

  // Waits until every interrupt a device has raised so far has reached the
  // interrupt controller (IrqLine::settle). The VM must be paused and the
  // I/O thread parked, so that no device raises one meanwhile.
  void settle_irqs();

  // The "devices" node of an image, and back (registration order).
  StateNode save() const;
  void restore(const StateNode& devices);

  // Linux's virtio_mmio.device=<size>@<base>:<irq> arguments for the
  // virtio devices (drivers/virtio/virtio_mmio.c), in registration order,
  // space-separated; empty without virtio devices.
  std::string virtio_cmdline() const;

  const std::vector<DeviceEntry>& entries() const { return entries_; }

 private:
  void add_pio_device(std::unique_ptr<Device> dev, uint16_t port, uint64_t size, State state,
                      std::optional<uint32_t> gsi);
  DeviceEntry& add(std::unique_ptr<Device> dev, BusKind bus, uint64_t base, uint64_t size, State state,
                   std::optional<uint32_t> gsi);

  hv::Vm& vm_;
  const GuestMemory& mem_;
  Bus &pio_, &mmio_;
  std::vector<std::unique_ptr<IrqLine>> irqs_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::vector<DeviceEntry> entries_;
  size_t virtio_count_ = 0;
};

}  // namespace amber::vmm
