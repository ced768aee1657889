// Machine state save/restore, image writing (docs/image-format.md) and the
// in-place reset to the image a VM was resumed from (docs/api.md).
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

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

// "amber: saving 123.4/456.7 MiB (89.1 MiB/s)" on a terminal, for saves
// that take longer than a second; redrawn at most 4 times a second. The
// console may be in raw mode, hence the explicit \r.
class SaveProgress {
 public:
  void update(uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - t0_).count();
    if (elapsed < 1.0 || (drawn_ && now - last_ < std::chrono::milliseconds(250) && done < total)) return;
    last_ = now;
    drawn_ = true;
    fmt::print(stderr, "\ramber: saving {:.1f}/{:.1f} MiB ({:.1f} MiB/s)  ", done / 1048576.0, total / 1048576.0,
               done / 1048576.0 / elapsed);
  }
  void finish() {
    if (drawn_) fmt::print(stderr, "\r\n");
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), last_{};
  bool drawn_ = false;
};
}  // namespace

std::string SaveResult::summary() const {
  return fmt::format("{}: {:.1f} MiB allocated ({:.1f} MiB RAM data, {:.1f} MiB disk data), paused {:.1f} ms", path,
                     allocated_bytes / 1048576.0, ram_data_bytes / 1048576.0, disk_data_bytes / 1048576.0, pause_ms);
}

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
  if (cfg.cpus != config_.cpus || cfg.disks.size() != disks_.size() || cfg.rng != config_.rng)
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

SaveResult Machine::save_image(const std::string& path, bool compress) {
  auto t0 = std::chrono::steady_clock::now();
  if (started_) pause_all();
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
  SaveProgress progress;
  if (isatty(STDERR_FILENO)) opt.progress = [&progress](uint64_t done, uint64_t total) { progress.update(done, total); };
  image::SaveStats stats;
  try {
    stats = image::write_image(path, in, opt);
  } catch (...) {
    progress.finish();
    throw;
  }
  progress.finish();
  SaveResult r;
  r.path = path;
  r.allocated_bytes = stats.allocated_bytes;
  r.ram_data_bytes = stats.ram_data_bytes;
  r.disk_data_bytes = stats.disk_data_bytes;
  r.pause_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

double Machine::reset_to_origin() {
  auto t0 = std::chrono::steady_clock::now();
  if (!origin_) throw Error("reset needs a VM resumed from an image; this one was booted");
  const auto& img_ram = origin_->ram_regions();
  const auto& regions = memory_.regions();
  if (img_ram.size() != regions.size()) throw Error("reset: the guest memory layout does not match the image");
  for (size_t i = 0; i < regions.size(); ++i)
    if (img_ram[i].gpa != regions[i].gpa || img_ram[i].size != regions[i].size)
      throw Error("reset: the guest memory layout does not match the image");
  bool was_paused = paused_;
  if (started_) pause_all();
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    if (!img_ram[i].compressed()) {
      // RAM is the image's file range mapped MAP_PRIVATE: dropping the
      // private copy-on-write pages makes the next access fault in the
      // image's bytes again. KVM's MMU notifier drops its mappings too.
      check_sys(madvise(r.host, r.size, MADV_DONTNEED), "reset: madvise(MADV_DONTNEED)");
    } else {
      // A compressed image was decompressed into anonymous memory at resume;
      // decompress again and copy over (checksums are checked on the way).
      Mapping fresh = origin_->map_ram(i);
      std::memcpy(r.host, fresh.data(), r.size);
    }
  }
  for (auto* d : disks_) d->reset_overlay();
  restore_state(origin_->machine());
  if (started_ && !was_paused) {
    resume_all();
    // Requests the guest had published when the image was saved (as at
    // resume); a paused VM gets them served by the next reset or resume
    // kick of its driver.
    for (auto& t : transports_) t->notify(0);
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace amber::vmm
