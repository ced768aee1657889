#include "vmm/machine.h"

#include <cstdlib>
#include <string_view>

#include <fmt/core.h>

#include "amber/layout.h"
#include "amber/log.h"
#include "legacy/cmos.h"
#include "legacy/debug_exit.h"
#include "legacy/i8042.h"
#include "legacy/null_device.h"
#include "legacy/uart.h"
#include "virtio/blk.h"
#include "virtio/disk/disk_backend.h"
#include "virtio/mmio_transport.h"
#include "virtio/p9/p9_device.h"
#include "virtio/rng.h"
#include "virtio/virtio_spec.h"
#include "firmware/kernel_loader.h"
#include "firmware/memory_map.h"
#include "firmware/mptable.h"
#include "firmware/page_tables.h"
#include "vmm/ctl_port.h"

namespace amber::vmm {

namespace {
std::unique_ptr<hv::Vm> create_vm(hv::Hypervisor& hv, const MachineConfig& config) {
  if (config.cpus < 1 || config.cpus > 32) throw Error(fmt::format("{} vCPUs: amber supports 1 to 32", config.cpus));
  return hv.create_vm();
}
}  // namespace

Machine::Machine(hv::Hypervisor& hv, MachineConfig config, GuestMemory memory,
                 std::vector<std::unique_ptr<block::DiskBackend>> disks, Console* console)
    : hv_(hv),
      config_(std::move(config)),
      memory_(std::move(memory)),
      vm_(create_vm(hv_, config_)),
      console_(console),
      devices_(*vm_, memory_, pio_, mmio_) {
  // A benchmark's and a diagnosis's switch (tools/bench/bgsave.sh,
  // docs/performance.md): every save stops the guest until written.
  if (const char* bg = std::getenv("AMBER_BACKGROUND_SAVES"); bg && std::string_view(bg) == "0")
    config_.background_saves = false;
  uint32_t slot = 0;
  for (auto& r : memory_.regions()) vm_->add_memory({slot++, r.gpa, r.size, r.host});
  for (uint32_t i = 0; i < config_.cpus; ++i) vcpus_.push_back(vm_->create_vcpu(i, config_.cpus));
  create_devices(std::move(disks));
  io_ = std::make_unique<IoThread>();
  devices_.wire_ioeventfds(*io_);
}

Machine::~Machine() { stop_threads(); }

// The device list: each device is one registration here (its window, line
// and state hooks come from the registry; device_registry.h).
void Machine::create_devices(std::vector<std::unique_ptr<block::DiskBackend>> disks) {
  using State = DeviceRegistry::State;
  auto& d = devices_;
  uart_ = &d.add_pio(std::make_unique<dev::Uart>("uart0", d.level_irq(layout::kCom1Irq),
                                                 [this](std::span<const uint8_t> b) { on_guest_output(b); }),
                     layout::kCom1Port, 8, State::kSaved, layout::kCom1Irq);
  d.add_pio(std::make_unique<dev::I8042>([this] { request_stop(StopReason::kGuestReset); }), layout::kI8042Port, 5,
            State::kSaved);
  auto cmos = std::make_unique<dev::Cmos>();
  uint64_t below = 0, above = 0;
  for (auto& r : memory_.regions()) (r.gpa >= layout::kMmioHoleEnd ? above : below) += r.size;
  cmos->set_memory_size(below, above);
  d.add_pio(std::move(cmos), layout::kCmosPort, 2, State::kSaved);
  d.add_pio(std::make_unique<dev::NullDevice>("post"), layout::kPostPort, 1, State::kStateless);
  // The guest's two save doorbells (docs/api.md). The control port sits
  // where the image had it (config_.ctl_port): 0x510 for older images.
  d.add_pio(std::make_unique<CtlPort>([this] { request_guest_save(); }), config_.ctl_port, CtlPort::kWindowSize,
            State::kStateless);
  // No fw_cfg: guests written for QEMU probe its selector and read all ones.
  if (config_.ctl_port != layout::kAmberCtlPortLegacy)
    d.add_pio(std::make_unique<dev::NullDevice>("fw-cfg-absent"), layout::kFwCfgPort, layout::kFwCfgSize,
              State::kStateless);
  uart_->set_out1_doorbell([this] { request_guest_save(); });
  // Virtio devices take the virtio-mmio windows and GSIs in this order.
  for (size_t i = 0; i < disks.size(); ++i) {
    disks_.push_back(disks[i].get());
    d.add_virtio(fmt::format("virtio-blk@{}", i), std::make_unique<virtio::Blk>(std::move(disks[i])));
  }
  if (config_.rng) d.add_virtio("virtio-rng", std::make_unique<virtio::Rng>());
  for (auto& share : config_.shares)
    d.add_virtio(fmt::format("virtio-9p@{}", share.tag),
                 std::make_unique<virtio::P9Device>(virtio::p9::Server::open(share), share.tag));
  if (config_.debug_exit_port)
    d.add_pio(std::make_unique<dev::DebugExit>([this](int status) { request_guest_exit(status); }),
              config_.debug_exit_port, layout::kDebugExitSize, State::kStateless);
}

void Machine::on_guest_output(std::span<const uint8_t> bytes) {
  if (console_) console_->write_output(bytes);
  if (observer_) observer_(bytes);
  // Not held: holding the vCPU that printed the text made resumed 2-vCPU
  // Linux guests lose that CPU's timer about 1 time in 10 (an RCU stall,
  // then no answer; docs/testing.md "Known sandbox flakes"); cause not found.
  if (trigger_.feed(bytes)) request_guest_save(/*hold_vcpu=*/false);
}

std::string Machine::boot_kernel(std::span<const uint8_t> kernel, std::span<const x86::BootModule> modules) {
  auto res = x86::load_kernel(memory_, kernel, modules, config_.cmdline, config_.mem_bytes);
  x86::write_mptable(memory_, config_.cpus);
  vcpus_[0]->set_boot_state(res.cpu);
  config_.kernel_format = x86::kernel_format_name(res.format);
  return res.description;
}

std::string Machine::boot_linux(std::span<const uint8_t> kernel, std::span<const uint8_t> initrd) {
  std::vector<x86::BootModule> modules;
  if (!initrd.empty()) modules.push_back({initrd, {}});
  return boot_kernel(kernel, modules);
}

void Machine::boot_bare(std::span<const uint8_t> image) {
  memory_.write(layout::kBareLoadAddr, image);
  x86::write_gdt_idt(memory_);
  x86::write_identity_page_tables(memory_);
  auto cpu = x86::long_mode_state(layout::kBareLoadAddr);
  cpu.rsp = layout::kBootStackTop;
  vcpus_[0]->set_boot_state(cpu);
}

void Machine::post(Event e) {
  std::lock_guard lk(events_mu_);
  events_.push_back(std::move(e));
  events_cv_.notify_all();
}

void Machine::request_stop(StopReason why, std::string message) { post({EventKind::kStop, why, std::move(message), {}}); }

void Machine::request_guest_exit(int status) {
  post({EventKind::kStop, StopReason::kGuestExit, {}, {}, status});
}

void Machine::request_guest_save(bool hold_vcpu) {
  // A doorbell runs in the exit handler of the vCPU
  // that rang. Hold that vCPU before it re-enters the guest, so the image
  // holds the guest right at its request and not wherever it got to before
  // the main loop paused it. Otherwise a guest that asks for random bytes
  // right after ringing may have them served before the capture, and every
  // clone of the image then shares them (docs/entropy.md). triggered_save()
  // lets it go again.
  if (hold_vcpu) VcpuThread::hold_current();
  post({EventKind::kSaveRequested, StopReason::kSaved, {}, {}});
}

void Machine::post_task(std::function<void()> task) { post({EventKind::kTask, StopReason::kError, {}, std::move(task)}); }

double Machine::uptime_seconds() const {
  if (!started_) return 0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
}

void Machine::start_threads(bool paused) {
  VcpuThread::install_kick_handler();
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    threads_.push_back(std::make_unique<VcpuThread>(
        *vcpus_[i],
        [this, i](const hv::VcpuExit& e) {
          if (auto* trap = std::get_if<hv::DebugTrap>(&e); trap && debug_.on_trap) {
            VcpuThread::hold_current();  // parked before its next entry, until the debugger resumes
            debug_.on_trap(uint32_t(i), *trap);
            return ExitResult{};
          }
          return handle_exit(e, pio_, mmio_);
        },
        [this](uint32_t idx, const ExitResult& r) {
          switch (r.action) {
            case ExitAction::kShutdown:
              // A triple fault (or reboot=t) is reported, since a crashed
              // guest would otherwise look like a clean reboot. The registers
              // say where on Intel; AMD's KVM resets the vCPU on a shutdown
              // intercept (svm.c shutdown_interception), so there they show
              // the reset state.
              log::warn("vCPU {}: the guest shut down (triple fault: a crash, or reboot=t): {}", idx,
                        vcpus_[idx]->describe_registers());
              request_stop(StopReason::kGuestShutdown);
              break;
            case ExitAction::kReset: request_stop(StopReason::kGuestReset); break;
            case ExitAction::kHalted: break;  // this vCPU is done; the others go on
            default: request_stop(StopReason::kError, fmt::format("vCPU {}: {}", idx, r.error)); break;
          }
        }));
  }
  io_->start();
  // Requests a guest published before the image was saved but that were
  // not yet served (docs/disks.md: snapshot pause rule).
  if (restored_) devices_.notify_all_queues();
  for (auto& t : threads_) t->start(paused);
  if (console_)
    console_->start_input([this](std::span<const uint8_t> b) { return uart_->enqueue_input(b); },
                          [this] { request_stop(StopReason::kQuit); });
  started_ = true;
  started_at_ = std::chrono::steady_clock::now();
}

void Machine::stop_threads() {
  if (console_) console_->stop_input();
  for (auto& t : threads_) t->request_stop();
  for (auto& t : threads_) t->join();
  threads_.clear();
  if (io_) io_->stop();
}

void Machine::pause_all() {
  // The I/O thread is told first, so that it starts no handler from here
  // on: a queue the guest kicked but that is not served yet stays unserved
  // in a snapshot taken now, and each VM restored from it serves the queue
  // itself (start_threads). Then the vCPUs are parked: after that no new
  // notification can arrive. Last, wait for the I/O thread to finish the
  // request it may be serving, so nothing is in flight (docs/disks.md).
  io_->request_pause();
  for (auto& t : threads_) t->pause();
  io_->pause();
  paused_ = true;
}

void Machine::resume_all() {
  io_->resume();
  for (auto& t : threads_) t->resume();
  paused_ = false;
}

void Machine::resume_vcpu(uint32_t index) {
  if (index >= threads_.size()) throw Error(fmt::format("no vCPU {}", index));
  io_->resume();
  threads_[index]->resume();
}

void Machine::run_on_vcpu(uint32_t index, const std::function<void(hv::Vcpu&)>& task) {
  if (index >= vcpus_.size()) throw Error(fmt::format("no vCPU {}", index));
  if (index < threads_.size())
    threads_[index]->run_on_thread(task);
  else
    task(*vcpus_[index]);  // not started: no other thread touches it
}

bool Machine::pause_scope(const std::function<void()>& act, bool stay_paused) {
  bool was_running = started_ && !paused_;
  if (started_) pause_all();
  try {
    act();
  } catch (...) {
    if (was_running) resume_all();
    throw;
  }
  if (!was_running || stay_paused) return false;
  resume_all();
  return true;
}

std::string Machine::save_refusal() const {
  if (config_.shares.empty()) return {};
  return fmt::format("a VM with a --share ({}) cannot be saved: its open host files do not fit in an image "
                     "(docs/shares.md)",
                     config_.shares.front().path);
}

bool Machine::triggered_save(const RunOptions& opts, RunOutcome& out) {
  if (opts.save_path.empty()) {
    log::guest_warn(unarmed_save_limit_, "the guest asked for a save, but no --save IMAGE was given; ignored");
    if (!paused_) resume_all();  // lets the vCPU that rang go on (request_guest_save)
    return true;
  }
  if (std::string why = save_refusal(); !why.empty()) {
    // Refused before pausing: the image file is not touched. Then as any
    // failed save (below): --then exit ends the run with the error.
    if (!paused_) resume_all();  // lets the vCPU that rang go on
    std::string msg = fmt::format("save refused: {}", why);
    if (!opts.then_continue) {
      out = {StopReason::kError, msg};
      return false;
    }
    if (opts.on_save_failed)
      opts.on_save_failed(msg);
    else
      log::guest_warn(unarmed_save_limit_, "{}", msg);
    return true;
  }
  // Failure policy (docs/api.md): save_image puts the VM back in the run
  // state it had. With --then continue the error is reported and the guest
  // goes on; with --then exit this invocation's job failed, so run() ends
  // with the error (exit status 1) instead of leaving a script waiting on a
  // VM it asked to save and stop.
  try {
    SaveResult r = save_image(opts.save_path, opts.compress, /*stay_paused=*/!opts.then_continue);
    if (opts.on_saved) opts.on_saved(r);
    if (!opts.then_continue) {
      out = {StopReason::kSaved, {}};
      return false;
    }
  } catch (const std::exception& ex) {
    std::string msg = fmt::format("save failed: {}", ex.what());
    if (!opts.then_continue) {
      out = {StopReason::kError, msg};
      return false;
    }
    if (opts.on_save_failed)
      opts.on_save_failed(msg);
    else
      log::error("{}", msg);
  }
  return true;
}

RunOutcome Machine::run(const RunOptions& opts) {
  trigger_ = SerialTrigger(opts.save_on_serial);
  progress_ = opts.progress;
  if (!started_) {
    start_threads(opts.start_paused);
    if (opts.start_paused) {
      io_->request_pause();
      io_->pause();
      paused_ = true;
    }
  }
  RunOutcome out;
  for (;;) {
    Event e;
    {
      std::unique_lock lk(events_mu_);
      events_cv_.wait(lk, [&] { return !events_.empty(); });
      e = std::move(events_.front());
      events_.pop_front();
    }
    if (e.kind == EventKind::kStop) {
      out = {e.reason, e.message, e.guest_status};
      break;
    }
    if (e.kind == EventKind::kTask) {
      // Tasks answer their caller themselves (the control socket); one
      // that throws is a bug in the caller, not a reason to stop the VM.
      try {
        e.task();
      } catch (const std::exception& ex) {
        log::error("internal: a main-loop task failed: {}", ex.what());
      }
      continue;
    }
    // A save requested by the console trigger or a guest doorbell.
    if (!triggered_save(opts, out)) break;
  }
  stop_threads();
  progress_ = {};
  return out;
}

}  // namespace amber::vmm
