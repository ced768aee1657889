// Machine state save/restore and image writing (docs/image-format.md).
#include <fmt/core.h>

#include "amber/log.h"
#include "legacy/cmos.h"
#include "legacy/i8042.h"
#include "legacy/uart.h"
#include "snapshot/image.h"
#include "virtio/disk/disk_backend.h"
#include "virtio/mmio_transport.h"
#include "vmm/machine.h"
#include "vmm/machine_config_state.h"

namespace amber::vmm {

namespace {
std::string vcpu_node(size_t i) { return fmt::format("vcpu@{}", i); }

// A KVM_RUN with immediate_exit set completes an I/O instruction whose
// data the VMM just supplied, without entering the guest (api.rst,
// "immediate_exit"); only then are the registers consistent to save.
StateNode save_vcpu(hv::Vcpu& v) {
  v.set_immediate_exit(true);
  v.run();
  v.set_immediate_exit(false);
  return v.save_state();
}
}  // namespace

StateNode Machine::save_state() {
  StateNode m;
  m.children["config"] = amber::save_state(to_state(config_));
  StateNode& vcpus = m.children["vcpus"];
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    StateNode n;
    if (i < threads_.size())
      threads_[i]->run_on_thread([&](hv::Vcpu& v) { n = save_vcpu(v); });
    else
      n = save_vcpu(*vcpus_[i]);
    vcpus.children[vcpu_node(i)] = std::move(n);
  }
  m.children["vm"] = vm_->save_state();
  StateNode& devs = m.children["devices"];
  devs.children[std::string(uart_->name())] = uart_->save();
  devs.children[std::string(i8042_->name())] = i8042_->save();
  devs.children[std::string(cmos_->name())] = cmos_->save();
  for (auto& t : transports_) devs.children[std::string(t->name())] = t->save();
  return m;
}

void Machine::restore_state(const StateNode& m) {
  auto cfg = load_state<ConfigState>(m.require_child("config"), "config");
  if (cfg.cpus != config_.cpus || cfg.disks.size() != transports_.size())
    throw Error("image: machine configuration does not match the VM being restored");
  const StateNode& vcpus = m.require_child("vcpus");
  // VM-wide state first (PIC/IOAPIC/PIT/clock), then each vCPU in the
  // documented ioctl order (src/kvm), then the devices.
  vm_->restore_state(m.require_child("vm"));
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    const StateNode& n = vcpus.require_child(vcpu_node(i));
    if (i < threads_.size())
      threads_[i]->run_on_thread([&](hv::Vcpu& v) { v.restore_state(n); });
    else
      vcpus_[i]->restore_state(n);
  }
  const StateNode& devs = m.require_child("devices");
  uart_->restore(devs.require_child(uart_->name()));
  i8042_->restore(devs.require_child(i8042_->name()));
  cmos_->restore(devs.require_child(cmos_->name()));
  for (auto& t : transports_) t->restore(devs.require_child(t->name()));
  restored_ = true;
}

std::string Machine::save_image(const std::string& path, bool compress) {
  if (started_) pause_all();
  auto t0 = std::chrono::steady_clock::now();
  image::SaveInput in;
  in.machine = save_state();
  for (auto& r : memory_.regions())
    in.ram.push_back({r.gpa, std::span<const uint8_t>(r.host, r.size), config_.anonymous_memory});
  for (size_t i = 0; i < disks_.size(); ++i) {
    block::DiskBackend* d = disks_[i];
    image::DiskIn di;
    di.name = config_.disks[i].name;
    di.id = config_.disks[i].id;
    di.read_only = config_.disks[i].read_only;
    di.size = d->size();
    for (auto& e : d->data_extents()) di.extents.push_back({e.offset, e.length});
    di.read = [d](uint64_t off, std::span<uint8_t> out) { return d->read(off, out); };
    in.disks.push_back(std::move(di));
  }
  in.cmdline = config_.cmdline;
  image::SaveOptions opt;
  opt.compress = compress;
  auto stats = image::write_image(path, in, opt);
  double pause_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return fmt::format("{}: {:.1f} MiB allocated ({:.1f} MiB RAM data, {:.1f} MiB disk data), paused {:.1f} ms",
                     path, stats.allocated_bytes / 1048576.0, stats.ram_data_bytes / 1048576.0,
                     stats.disk_data_bytes / 1048576.0, pause_ms);
}

}  // namespace amber::vmm
