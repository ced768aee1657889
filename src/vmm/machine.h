#pragma once
// A running VM: guest memory, the in-kernel irqchip VM, the devices on the
// two buses, vCPU threads and the I/O thread. One construction path serves a
// fresh boot and a resume (design-notes: "One construction path builds a VM
// both for a fresh boot and for a resume"); boot_*() or restore_state()
// then gives it its initial state.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amber/bus.h"
#include "amber/guest_memory.h"
#include "amber/layout.h"
#include "amber/log.h"
#include "firmware/boot_result.h"
#include "hv/hypervisor.h"
#include "snapshot/image.h"
#include "snapshot/lazy_ram.h"
#include "virtio/disk/disk_backend.h"
#include "virtio/p9/share_spec.h"
#include "vmm/console.h"
#include "vmm/device_registry.h"
#include "vmm/io_thread.h"
#include "vmm/serial_trigger.h"
#include "vmm/vcpu_thread.h"

namespace amber::dev {
class Uart;
}  // namespace amber::dev
namespace amber::image {
class Image;
}

namespace amber::vmm {

struct DiskConfig {
  std::string name;  // "vda", "vdb", ...
  std::string id;    // virtio-blk serial
  bool read_only = false;
};

struct MachineConfig {
  uint32_t cpus = 1;
  uint64_t mem_bytes = 256ull << 20;
  // The guest's full kernel command line (informational on resume). For a
  // fresh boot it names the virtio devices: src/cli composes it from
  // Machine::virtio_cmdline() and sets it with set_cmdline().
  std::string cmdline;
  std::vector<DiskConfig> disks;
  // A virtio-rng device after the disks (devices/virtio/rng.h), so guests
  // and the clones of an image get fresh host entropy (docs/entropy.md).
  bool rng = false;
  // Host directories served over virtio-9p (--share, docs/shares.md), after
  // virtio-rng. A VM with a share cannot be saved: save_refusal() says why.
  std::vector<virtio::p9::ShareSpec> shares;
  // The I/O port of amber's control port (vmm/ctl_port.h, docs/api.md): a
  // boot gets layout::kAmberCtlPort; a resume keeps the image's (older
  // images: layout::kAmberCtlPortLegacy, 0x510).
  uint16_t ctl_port = layout::kAmberCtlPort;
  // QEMU's isa-debug-exit at this port (--debug-exit; legacy/debug_exit.h),
  // layout::kDebugExitSize ports wide; 0: none.
  uint16_t debug_exit_port = 0;
  // The format of the kernel a fresh boot loaded ("bzimage", "pvh",
  // "multiboot": x86::kernel_format_name), saved in images so that a resume
  // knows whether the guest is Linux (is_linux_guest()); empty for a
  // bare-metal guest (boot_bare) and in images made before it was recorded.
  std::string kernel_format;
  // RAM is fresh anonymous memory (a boot), not mapped from an image (a
  // resume): the image writer may then treat non-resident pages as zero.
  bool anonymous_memory = true;
  // Saves that continue the VM write RAM from a forked copy-on-write child
  // while the guest runs (vmm/background_save.h), where every disk is
  // read-only; false: every save stops the guest until the file is written.
  bool background_saves = true;
};

// Why run() returned. kGuestExit: the guest wrote the debug-exit port
// (RunOutcome::guest_status holds the exit status it asked for).
enum class StopReason { kGuestReset, kGuestShutdown, kSaved, kQuit, kSignal, kError, kGuestExit };

struct SaveResult {
  std::string path;
  uint64_t allocated_bytes = 0, ram_data_bytes = 0, disk_data_bytes = 0;
  // How long the guest was stopped: to the image on disk, or, for a
  // background save, to the fork of the writer.
  double pause_ms = 0;
  double total_ms = 0;      // from the pause to the image on disk
  bool background = false;  // written by a forked child while the guest ran (background_save.h)
  std::string summary() const;
};

// What a save tells its watcher while the image is written, for a progress
// display (src/cli draws one on a terminal). Called on the thread that saves.
struct SaveProgress {
  std::function<void()> start;  // once, before the write
  std::function<void(uint64_t done, uint64_t total)> update;  // from time to time
  std::function<void()> finish;  // once, when the write ended, written or failed
};

struct RunOptions {
  std::string save_on_serial;  // empty: no trigger
  // Where a triggered save goes: the serial text above, or the guest's own
  // request through a doorbell (the control port, UART OUT1; docs/api.md). Empty:
  // guest requests are ignored (with a rate-limited warning).
  std::string save_path;
  bool then_continue = false;  // keep running after a triggered save
  bool compress = false;
  // Reporting is the caller's (src/cli prints on the terminal); each may be
  // empty. `progress` watches every save of this run (triggered and control
  // socket); on_saved / on_save_failed follow a triggered save. Without
  // on_save_failed, a failed triggered save is logged as an error.
  SaveProgress progress;
  std::function<void(const SaveResult&)> on_saved;
  std::function<void(const std::string& error)> on_save_failed;
  // The vCPUs start parked and the VM paused (--gdb-wait: gdb continues it).
  bool start_paused = false;
};

struct RunOutcome {
  StopReason reason = StopReason::kGuestReset;
  std::string message;  // for kError
  int guest_status = 0;  // for kGuestExit
  int exit_status() const {
    switch (reason) {
      case StopReason::kError: return 1;
      case StopReason::kSignal: return 130;
      case StopReason::kGuestExit: return guest_status & 0xff;  // 9 bits wide (DebugExit::exit_status)
      default: return 0;
    }
  }
};

// How a debugger (src/gdb) hooks into a VM. on_trap runs on the vCPU
// thread that hit a guest-debug event, which is held out of the guest until
// the VM is resumed; before_save/after_save bracket every save's capture,
// so an image holds the guest's memory and not the debugger's breakpoints;
// after_reset runs, paused, once an in-place reset has brought the image's
// RAM and state back, so the debugger can put its breakpoints in again.
struct DebugHooks {
  std::function<void(uint32_t vcpu, const hv::DebugTrap& trap)> on_trap;
  std::function<void()> before_save, after_save, after_reset;
};

class Machine {
 public:
  Machine(hv::Hypervisor& hv, MachineConfig config, GuestMemory memory,
          std::vector<std::unique_ptr<block::DiskBackend>> disks, Console* console);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Fresh boot: loads the kernel (bzImage, PVH vmlinux or multiboot, by its
  // header; firmware/kernel_loader.h) with its modules (a Linux kernel: at
  // most one, the initrd) and the command line set_cmdline() gave, records
  // its format in the configuration and returns the loader's description.
  std::string boot_kernel(std::span<const uint8_t> kernel, std::span<const x86::BootModule> modules);
  // The same for a Linux kernel and its initrd (may be empty: none).
  std::string boot_linux(std::span<const uint8_t> kernel, std::span<const uint8_t> initrd);
  // Fresh boot of a flat bare-metal test guest at layout::kBareLoadAddr.
  void boot_bare(std::span<const uint8_t> image);

  // Snapshot support; both require the machine to be paused (or not started).
  StateNode save_state();
  void restore_state(const StateNode& machine);
  // Writes the VM to `path` (atomically) with the VM paused (pause_scope).
  // Afterwards the VM has the run state it had (running or paused), also
  // when the save fails (the Error propagates); with `stay_paused`, a
  // successful save leaves it paused (a save followed by exit). Main loop
  // only. Progress goes to run()'s RunOptions::progress while run() runs.
  SaveResult save_image(const std::string& path, bool compress, bool stay_paused = false);
  // Why this VM cannot be saved (it has a share); empty when it can. Every
  // save path checks it before pausing, so no image is touched.
  std::string save_refusal() const;

  // In-place reset to the image this VM was resumed from (set_origin):
  // drops the guest's private RAM changes and disk writes and re-applies the
  // image's vCPU/VM/device state. The run state (running/paused) is kept,
  // also when the reset fails (the Error propagates; the guest may then be
  // half reset). Throws Error for a VM that was booted, not resumed. Main
  // loop only. Returns the milliseconds it took (the guest is stopped for
  // that long).
  double reset_to_origin();
  // The image a resumed VM came from; it must outlive the Machine.
  void set_origin(const image::Image* img) { origin_ = img; }
  const image::Image* origin() const { return origin_; }
  // The fill of RAM still decompressed lazily from a zstd image (resume,
  // lazy_ram.h); destroyed before the memory it fills.
  void set_lazy_fill(std::unique_ptr<image::LazyFill> fill) { lazy_fill_ = std::move(fill); }
  // Returns once all of guest RAM is in (at once when nothing is lazy).
  // What must see all of RAM without faulting it in calls it first: a save
  // (its scan takes unpopulated pages for zero; the background save's child
  // would lose the userfaultfd at fork) and an in-place reset. Guest-memory
  // accesses from VMM threads (devices, gdb) need not: they fault and are
  // served like a vCPU's. Main loop only; the guest runs meanwhile.
  void wait_for_lazy_ram();
  // The fill still in progress, or null (tests read its counters).
  const image::LazyFill* lazy_fill() const { return lazy_fill_.get(); }

  // Starts the vCPU and I/O threads and waits until the guest stops or a
  // save with then=exit completes.
  RunOutcome run(const RunOptions& opts);
  void pause_all();
  void resume_all();
  // For a debugger's single step, on a paused VM: vCPU `index` (and the I/O
  // thread) run while the others stay parked; paused() stays true, and
  // pause_all() parks it again. Main loop only.
  void resume_vcpu(uint32_t index);
  // Runs `task` on vCPU `index`'s thread (the VM paused, or not started).
  // Main loop only.
  void run_on_vcpu(uint32_t index, const std::function<void(hv::Vcpu&)>& task);
  uint32_t vcpu_count() const { return uint32_t(vcpus_.size()); }
  // Before run(); the hooks must outlive it.
  void set_debug_hooks(DebugHooks hooks) { debug_ = std::move(hooks); }
  bool paused() const { return paused_; }  // main loop only
  // Whether a pause (or a save's pause) has told the I/O thread to start no
  // new handler; safe from any thread. For tests that hold a virtio request
  // in flight across the start of a save (src/vmm/inflight_kvm_test.cpp).
  bool io_pause_requested() const { return io_->pause_requested(); }
  // Seconds since run() started the VM.
  double uptime_seconds() const;
  // Asks run() to return (safe from any thread, also signal-handling threads).
  void request_stop(StopReason why, std::string message = {});
  // A save request from the guest; safe from any thread. A doorbell
  // (hold_vcpu) also holds the vCPU that rang until the save is handled
  // (machine.cpp); the --save-on-serial text does not.
  void request_guest_save(bool hold_vcpu = true);
  // The guest asks amber to end with exit `status` (debug-exit); safe from
  // any thread.
  void request_guest_exit(int status);
  // Runs `task` on run()'s thread between events, so it may pause, save or
  // reset like the console trigger does (the control socket uses this). A
  // task still queued when run() returns is destroyed without running.
  void post_task(std::function<void()> task);

  Bus& pio() { return pio_; }
  Bus& mmio() { return mmio_; }
  const DeviceRegistry& devices() const { return devices_; }
  // The kernel arguments announcing the virtio-mmio devices, from the
  // registered windows ("virtio_mmio.device=4K@0xd0000000:5 ...").
  std::string virtio_cmdline() const { return devices_.virtio_cmdline(); }
  // A fresh boot's kernel command line; before boot_linux() loads it. It is
  // saved in the image's configuration.
  void set_cmdline(std::string cmdline) { config_.cmdline = std::move(cmdline); }
  const GuestMemory& memory() const { return memory_; }
  const MachineConfig& config() const { return config_; }
  // Guest console bytes go here too (tests, the save trigger).
  void set_output_observer(std::function<void(std::span<const uint8_t>)> f) { observer_ = std::move(f); }

 private:
  enum class EventKind { kStop, kSaveRequested, kTask };
  struct Event {
    EventKind kind;
    StopReason reason;
    std::string message;
    std::function<void()> task;
    int guest_status = 0;  // kStop with StopReason::kGuestExit
  };
  // The save input at this instant (the VM paused).
  image::SaveInput capture_for_save();
  bool can_save_in_background() const;
  // Handles a console/doorbell save request; false when run() must end.
  bool triggered_save(const RunOptions& opts, RunOutcome& out);
  // The one pause -> act -> resume path of the triggered save, the API save
  // and the reset (docs/api.md, "Failure policy"): pauses a started VM's
  // vCPUs and I/O thread, runs `act`, then puts the VM back in the run
  // state it had, running or paused, whether `act` returned or threw (its
  // exception propagates). With `stay_paused`, a VM stays paused after an
  // `act` that returned. Resuming also lets go the vCPU that rang a save
  // doorbell (request_guest_save). Returns whether it resumed the VM.
  bool pause_scope(const std::function<void()>& act, bool stay_paused = false);
  void post(Event e);
  void on_guest_output(std::span<const uint8_t> bytes);
  // Every device of the VM, registered in one place.
  void create_devices(std::vector<std::unique_ptr<block::DiskBackend>> disks);
  void start_threads(bool paused);
  void stop_threads();

  hv::Hypervisor& hv_;
  MachineConfig config_;
  GuestMemory memory_;
  std::unique_ptr<image::LazyFill> lazy_fill_;  // after memory_: destroyed before it
  std::unique_ptr<hv::Vm> vm_;
  std::vector<std::unique_ptr<hv::Vcpu>> vcpus_;
  std::vector<std::unique_ptr<VcpuThread>> threads_;
  Console* console_;
  Bus pio_{"pio"}, mmio_{"mmio"};

  DeviceRegistry devices_;
  dev::Uart* uart_ = nullptr;               // in devices_
  std::vector<block::DiskBackend*> disks_;  // owned by the transports' blk devices
  std::unique_ptr<IoThread> io_;            // its handlers use devices_: destroyed first
  SaveProgress progress_;                   // run()'s RunOptions::progress

  SerialTrigger trigger_{""};
  std::function<void(std::span<const uint8_t>)> observer_;
  bool started_ = false;
  bool restored_ = false;  // resume: serve queued virtio requests after start
  bool paused_ = false;
  const image::Image* origin_ = nullptr;
  std::chrono::steady_clock::time_point started_at_{};
  log::RateLimit unarmed_save_limit_;
  DebugHooks debug_;

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<Event> events_;
};

}  // namespace amber::vmm
