#pragma once
// A running VM: guest memory, the in-kernel irqchip VM, the devices on the
// two buses, vCPU threads and the I/O thread. One construction path serves a
// fresh boot and a resume (design-notes: "One construction path builds a VM
// both for a fresh boot and for a resume"); boot_*() or restore_state()
// then gives it its initial state.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "amber/bus.h"
#include "amber/guest_memory.h"
#include "hv/hypervisor.h"
#include "virtio/disk/disk_backend.h"
#include "vmm/console.h"
#include "vmm/io_thread.h"
#include "vmm/serial_trigger.h"
#include "vmm/vcpu_thread.h"

namespace amber::dev {
class Uart;
class I8042;
class Cmos;
class NullDevice;
}  // namespace amber::dev
namespace amber::virtio {
class MmioTransport;
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
  std::string cmdline;  // the guest's full kernel command line (informational on resume)
  std::vector<DiskConfig> disks;
  // RAM is fresh anonymous memory (a boot), not mapped from an image (a
  // resume): the image writer may then treat non-resident pages as zero.
  bool anonymous_memory = true;
};

// Why run() returned.
enum class StopReason { kGuestReset, kGuestShutdown, kSaved, kQuit, kSignal, kError };

struct RunOptions {
  std::string save_on_serial;  // empty: no trigger
  std::string save_path;
  bool then_continue = false;  // keep running after a triggered save
  bool compress = false;
};

struct RunOutcome {
  StopReason reason = StopReason::kGuestReset;
  std::string message;  // for kError
  int exit_status() const { return reason == StopReason::kError ? 1 : (reason == StopReason::kSignal ? 130 : 0); }
};

class Machine {
 public:
  Machine(hv::Hypervisor& hv, MachineConfig config, GuestMemory memory,
          std::vector<std::unique_ptr<block::DiskBackend>> disks, Console* console);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Fresh boot: loads the kernel (bzImage or PVH vmlinux) and returns the
  // loader's description line.
  std::string boot_linux(std::span<const uint8_t> kernel, std::span<const uint8_t> initrd);
  // Fresh boot of a flat bare-metal test guest at layout::kBareLoadAddr.
  void boot_bare(std::span<const uint8_t> image);

  // Snapshot support; both require the machine to be paused (or not started).
  StateNode save_state();
  void restore_state(const StateNode& machine);
  // Pauses, writes `path` (atomically), and leaves the machine paused.
  // Returns a one-line summary.
  std::string save_image(const std::string& path, bool compress);

  // Starts the vCPU and I/O threads and waits until the guest stops or a
  // save with then=exit completes.
  RunOutcome run(const RunOptions& opts);
  void pause_all();
  void resume_all();
  // Asks run() to return (safe from any thread, also signal-handling threads).
  void request_stop(StopReason why, std::string message = {});

  Bus& pio() { return pio_; }
  Bus& mmio() { return mmio_; }
  const GuestMemory& memory() const { return memory_; }
  const MachineConfig& config() const { return config_; }
  // Guest console bytes go here too (tests, the save trigger).
  void set_output_observer(std::function<void(std::span<const uint8_t>)> f) { observer_ = std::move(f); }

 private:
  enum class EventKind { kStop, kSaveRequested };
  struct Event {
    EventKind kind;
    StopReason reason;
    std::string message;
  };
  void post(Event e);
  void on_guest_output(std::span<const uint8_t> bytes);
  void create_devices();
  void start_threads(bool paused);
  void stop_threads();
  std::string save_image_locked(const std::string& path, bool compress);

  hv::Hypervisor& hv_;
  MachineConfig config_;
  GuestMemory memory_;
  std::unique_ptr<hv::Vm> vm_;
  std::vector<std::unique_ptr<hv::Vcpu>> vcpus_;
  std::vector<std::unique_ptr<VcpuThread>> threads_;
  Console* console_;
  Bus pio_{"pio"}, mmio_{"mmio"};

  std::vector<std::unique_ptr<IrqLine>> irqs_;
  std::unique_ptr<dev::Uart> uart_;
  std::unique_ptr<dev::I8042> i8042_;
  std::unique_ptr<dev::Cmos> cmos_;
  std::unique_ptr<dev::NullDevice> post_port_;
  std::vector<block::DiskBackend*> disks_;  // owned by the transports' blk devices
  std::vector<std::unique_ptr<virtio::MmioTransport>> transports_;
  std::unique_ptr<IoThread> io_;

  SerialTrigger trigger_{""};
  std::function<void(std::span<const uint8_t>)> observer_;
  bool started_ = false;
  bool restored_ = false;  // resume: serve queued virtio requests after start

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<Event> events_;
};

// The kernel command-line fragment announcing the virtio-mmio devices.
std::string virtio_cmdline(size_t disk_count);

}  // namespace amber::vmm
