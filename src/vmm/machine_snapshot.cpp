// Machine state save/restore, image writing (docs/image-format.md) and the
// in-place reset to the image a VM was resumed from (docs/api.md).
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include <fmt/core.h>

#include "amber/log.h"
#include "legacy/cmos.h"
#include "legacy/i8042.h"
#include "legacy/uart.h"
#include "snapshot/image.h"
#include "vmm/background_save.h"
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

std::string SaveResult::summary() const {
  return fmt::format("{}: {:.1f} MiB allocated ({:.1f} MiB RAM data, {:.1f} MiB disk data), paused {:.1f} ms{}", path,
                     allocated_bytes / 1048576.0, ram_data_bytes / 1048576.0, disk_data_bytes / 1048576.0, pause_ms,
                     background ? fmt::format(", written in {:.1f} ms in the background", total_ms) : "");
}

StateNode Machine::save_state() {
  // An interrupt a virtio device raised just before the pause (the request
  // the pause waited for, docs/architecture.md "A save") reaches KVM's
  // PIC/IOAPIC from a kernel work item: let it land before the vCPUs and
  // the irqchip are read, or the image would miss it (issue 11; restore
  // raises it again anyway, mmio_transport_state.cpp).
  devices_.settle_irqs();
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
  m.children["devices"] = devices_.save();
  return m;
}

void Machine::restore_state(const StateNode& m) {
  auto cfg = load_state<ConfigState>(m.require_child("config"), "config");
  if (cfg.cpus != config_.cpus || cfg.disks.size() != disks_.size() || cfg.rng != config_.rng ||
      cfg.ctl_port != config_.ctl_port || cfg.debug_exit_port != config_.debug_exit_port)
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
  devices_.restore(m.require_child("devices"));
  restored_ = true;
}

image::SaveInput Machine::capture_for_save() {
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
  return in;
}

bool Machine::can_save_in_background() const {
  // The child reads disks through the same files the guest goes on writing
  // to: only disks nobody writes are frozen like RAM.
  if (!config_.background_saves) return false;
  for (auto* d : disks_)
    if (!d->read_only()) return false;
  return true;
}

SaveResult Machine::save_image(const std::string& path, bool compress, bool stay_paused) {
  // Before pausing or opening `path`: a refused save leaves an earlier image intact.
  if (std::string why = save_refusal(); !why.empty()) throw Error(fmt::format("save refused: {}", why));
  // Before the clock starts: the guest runs on while the rest of a lazy
  // image's RAM comes in, and the pause is not longer for it.
  wait_for_lazy_ram();
  auto t0 = std::chrono::steady_clock::now();
  auto ms_since = [&t0] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  image::SaveStats stats;
  SaveResult r;
  r.path = path;
  image::SaveOptions opt;
  opt.compress = compress;
  // Background: the VM runs on after the capture, and nothing is gained
  // when it is to stay paused (then=exit) or is not running.
  bool background = !stay_paused && started_ && !paused_ && can_save_in_background();
  std::optional<BackgroundSave> child;
  pause_scope(
      [&] {
        // A debugger's int3 bytes out of RAM while it is captured (for a
        // background save: until fork() has frozen the child's view).
        if (debug_.before_save) debug_.before_save();
        struct AfterSave {
          const DebugHooks& h;
          ~AfterSave() {
            if (h.after_save) h.after_save();
          }
        } after_save{debug_};
        image::SaveInput in = capture_for_save();
        if (background) {
          // The watcher sees the save start and finish; the child reports
          // no progress in between.
          if (progress_.start) progress_.start();
          try {
            child.emplace(BackgroundSave::start(path, in, opt));
          } catch (...) {
            if (progress_.finish) progress_.finish();
            throw;
          }
          r.pause_ms = ms_since();
          return;
        }
        opt.progress = progress_.update;
        if (progress_.start) progress_.start();
        try {
          stats = image::write_image(path, in, opt);
        } catch (...) {
          if (progress_.finish) progress_.finish();
          throw;
        }
        if (progress_.finish) progress_.finish();
        // From pausing the vCPUs to the image on disk, without the resume.
        r.pause_ms = ms_since();
      },
      stay_paused);
  if (child) {
    // The guest runs meanwhile; the caller's answer waits for the file.
    struct Finish {
      const SaveProgress& p;
      ~Finish() {
        if (p.finish) p.finish();
      }
    } finish{progress_};
    stats = child->wait();
  }
  r.background = background;
  r.total_ms = ms_since();
  r.allocated_bytes = stats.allocated_bytes;
  r.ram_data_bytes = stats.ram_data_bytes;
  r.disk_data_bytes = stats.disk_data_bytes;
  return r;
}

void Machine::wait_for_lazy_ram() {
  if (!lazy_fill_) return;
  lazy_fill_->wait();
  lazy_fill_.reset();
}

double Machine::reset_to_origin() {
  if (!origin_) throw Error("reset needs a VM resumed from an image; this one was booted");
  // The reset copies over every page; a fill still running would copy
  // the image's bytes over the reset's (or find them present) meanwhile.
  wait_for_lazy_ram();
  auto t0 = std::chrono::steady_clock::now();
  const auto& img_ram = origin_->ram_regions();
  const auto& regions = memory_.regions();
  if (img_ram.size() != regions.size()) throw Error("reset: the guest memory layout does not match the image");
  for (size_t i = 0; i < regions.size(); ++i)
    if (img_ram[i].gpa != regions[i].gpa || img_ram[i].size != regions[i].size)
      throw Error("reset: the guest memory layout does not match the image");
  bool resumed = pause_scope([&] {
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
    if (debug_.after_reset) debug_.after_reset();
  });
  // Requests the guest had published when the image was saved (as at
  // resume); a paused VM gets them served by the next reset or resume
  // kick of its driver.
  if (resumed) devices_.notify_all_queues();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace amber::vmm
