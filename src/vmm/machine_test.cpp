// Machine with the fake hypervisor (src/hv/fake_hypervisor.h), without KVM:
// the device registry, a guest-requested save and the virtio-rng device,
// save/restore of the state tree, the in-place reset, the failure policy of
// saves and resets, and the control-socket commands (api::execute, without
// a socket). The fake vCPU plays the guest: its scripted steps write the
// virtqueue in guest memory and signal the queue's ioeventfd the way KVM does
// for a QueueNotify write.
#include "vmm/machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "amber/layout.h"
#include "api/machine_api.h"
#include "hv/fake_hypervisor.h"
#include "snapshot/image.h"
#include "virtio/mmio_transport.h"
#include "virtio/testing/mem_disk.h"
#include "virtio/virtio_spec.h"
#include "vmm/ctl_port.h"
#include "vmm/device_registry.h"
#include "vmm/io_thread.h"
#include "vmm/machine_config_state.h"
#include "vmm/resume.h"

namespace amber::vmm {
namespace {

using namespace std::chrono_literals;
namespace mmio = virtio::mmio;

constexpr uint64_t kMem = 16ull << 20;
constexpr uint16_t kQueueSize = 4;
constexpr uint64_t kDesc = 0x10000, kAvail = 0x10100, kUsed = 0x11000, kBuf = 0x12000;
constexpr uint32_t kBufLen = 16;

struct TempImage {
  std::string path;
  TempImage() {
    char p[] = "/tmp/amber-machine-test-XXXXXX";
    int fd = mkstemp(p);
    if (fd >= 0) close(fd);
    path = p;
  }
  ~TempImage() { unlink(path.c_str()); }
};

hv::FakeVcpu& vcpu_of(hv::FakeHypervisor& hv) { return *hv.vms().back()->vcpus().at(0); }
int rng_eventfd(hv::FakeHypervisor& hv) {
  auto& regs = hv.vms().back()->ioeventfds();
  EXPECT_EQ(regs.size(), 1u) << "one virtio device, the rng";
  return regs.at(0).eventfd;
}

void write_reg(Bus& bus, uint64_t base, uint64_t offset, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  ASSERT_TRUE(bus.write(base + offset, b));
}

// What a driver does before it uses the device (§3.1.1, §4.2.3.2), from
// the test thread before the VM runs: `queues` queues, queue q with its rings
// at kDesc/kAvail/kUsed + q * 64 KiB.
void set_up_device(Bus& bus, uint64_t base, uint32_t queues = 1) {
  auto w = [&](uint64_t off, uint32_t v) { write_reg(bus, base, off, v); };
  w(mmio::kStatus, 0);
  w(mmio::kStatus, virtio::kStatusAcknowledge);
  w(mmio::kStatus, virtio::kStatusAcknowledge | virtio::kStatusDriver);
  w(mmio::kDriverFeaturesSel, 1);
  w(mmio::kDriverFeatures, 1);  // VIRTIO_F_VERSION_1
  w(mmio::kDriverFeaturesSel, 0);
  w(mmio::kDriverFeatures, 0);
  w(mmio::kStatus, virtio::kStatusAcknowledge | virtio::kStatusDriver | virtio::kStatusFeaturesOk);
  for (uint32_t q = 0; q < queues; ++q) {
    uint32_t shift = q * 0x10000;
    w(mmio::kQueueSel, q);
    w(mmio::kQueueNum, kQueueSize);
    w(mmio::kQueueDescLow, uint32_t(kDesc) + shift);
    w(mmio::kQueueDriverLow, uint32_t(kAvail) + shift);
    w(mmio::kQueueDeviceLow, uint32_t(kUsed) + shift);
    w(mmio::kQueueReady, 1);
  }
  w(mmio::kStatus,
    virtio::kStatusAcknowledge | virtio::kStatusDriver | virtio::kStatusFeaturesOk | virtio::kStatusDriverOk);
}

void set_up_rng(Machine& m, uint64_t base = layout::kVirtioMmioBase) { set_up_device(m.mmio(), base); }

// The guest's side of one request, as guest-tests/bare/rng.S does it:
// descriptor 0 is a 16-byte device-writable buffer, then the avail index.
void publish_request(const GuestMemory& mem) {
  mem.write_obj<uint64_t>(kDesc, kBuf);
  mem.write_obj<uint32_t>(kDesc + 8, kBufLen);
  mem.write_obj<uint16_t>(kDesc + 12, virtio::kDescFlagWrite);
  mem.write_obj<uint16_t>(kDesc + 14, 0);
  mem.write_obj<uint16_t>(kAvail + 4, 0);  // ring[0] = descriptor 0
  mem.write_obj<uint16_t>(kAvail + 2, 1);  // avail idx
}

uint16_t used_idx(const GuestMemory& mem) { return mem.read_obj<uint16_t>(kUsed + 2).value_or(0xffff); }
uint16_t avail_idx(const GuestMemory& mem) { return mem.read_obj<uint16_t>(kAvail + 2).value_or(0xffff); }
std::array<uint8_t, kBufLen> buffer(const GuestMemory& mem) {
  std::array<uint8_t, kBufLen> b{};
  auto s = mem.try_slice(kBuf, kBufLen);
  if (s) std::memcpy(b.data(), s->data(), kBufLen);
  return b;
}

std::vector<uint8_t> save_word() {
  uint32_t v = CtlPort::kSaveRequest;
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

// A scripted step: the guest publishes a request, kicks the queue (what
// KVM does for a QueueNotify write with an ioeventfd) and spins until the
// device has used it, like rng.S's poll loop. Gives up after 2 s.
hv::FakeVcpu::Step request_and_wait(const GuestMemory& mem, int efd) {
  return [&mem, efd](hv::FakeVcpu&) -> hv::VcpuExit {
    publish_request(mem);
    uint64_t one = 1;
    EXPECT_EQ(::write(efd, &one, sizeof one), ssize_t(sizeof one));
    auto until = std::chrono::steady_clock::now() + 2s;
    while (used_idx(mem) != 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100us);
    return hv::SystemReset{};  // the guest is done: run() ends with kGuestReset
  };
}

std::unique_ptr<Machine> boot_with_rng(hv::FakeHypervisor& hv) {
  MachineConfig cfg;
  cfg.mem_bytes = kMem;
  cfg.rng = true;
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(kMem));
  auto m = std::make_unique<Machine>(hv, cfg, std::move(mem), std::vector<std::unique_ptr<block::DiskBackend>>{}, nullptr);
  set_up_rng(*m);
  return m;
}

// The failure of Entropy.ClonesOfOneImageDrawDifferentBytes (the real-KVM
// test): the guest rings the save doorbell and asks for random bytes right
// after. The vCPU that rang must not run on before the image is taken;
// otherwise the device serves that request before the capture and every
// clone of the image reads the same "random" bytes.
TEST(MachineGuestSave, TheVcpuThatRangDoesNotRunOnBeforeTheImageIsTaken) {
  TempImage img;
  {
    hv::FakeHypervisor hv;
    auto m = boot_with_rng(hv);
    auto& v = vcpu_of(hv);
    v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
    v.push(request_and_wait(m->memory(), rng_eventfd(hv)));
    // The main loop is busy for a moment when the guest rings (as with a
    // control-socket request), so the save starts late; without the hold the
    // guest gets its request served meanwhile, every time.
    m->post_task([] { std::this_thread::sleep_for(100ms); });
    RunOptions o;
    o.save_path = img.path;
    auto r = m->run(o);
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  }

  auto image = image::Image::open(img.path);
  std::vector<std::array<uint8_t, kBufLen>> draws;
  for (int i = 0; i < 2; ++i) {
    hv::FakeHypervisor hv;
    auto clone = resume_machine(hv, image, {}, nullptr);
    // The image's RAM, before the clone runs: the guest had not published
    // its request yet, and nothing was served.
    EXPECT_EQ(avail_idx(clone->memory()), 0) << "the guest ran past its save request before the image was taken";
    EXPECT_EQ(used_idx(clone->memory()), 0) << "the request after the save was served before the image was taken";
    EXPECT_EQ(buffer(clone->memory()), (std::array<uint8_t, kBufLen>{})) << "random bytes in the image";
    // The clone continues after the doorbell and makes the request itself.
    vcpu_of(hv).push(request_and_wait(clone->memory(), rng_eventfd(hv)));
    auto r = clone->run({});
    ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
    ASSERT_EQ(used_idx(clone->memory()), 1) << "clone " << i << ": the request was never served";
    draws.push_back(buffer(clone->memory()));
  }
  EXPECT_NE(draws[0], draws[1]) << "two clones got the same bytes";
}

// A request the guest published but that was not served when the image was
// taken is served by each VM resumed from it, each with its own bytes.
TEST(MachineGuestSave, ARequestPendingInTheImageIsServedByEachClone) {
  TempImage img;
  {
    hv::FakeHypervisor hv;
    auto m = boot_with_rng(hv);
    auto& v = vcpu_of(hv);
    const GuestMemory& mem = m->memory();
    // Published, but no kick reached the device before the guest rang.
    const std::vector<uint8_t> word = save_word();  // outlives the exit that points at it
    v.push([&mem, &word](hv::FakeVcpu&) -> hv::VcpuExit {
      publish_request(mem);
      return hv::IoOut{layout::kAmberCtlPort, 4, 1, word};
    });
    RunOptions o;
    o.save_path = img.path;
    auto r = m->run(o);
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  }

  auto image = image::Image::open(img.path);
  std::vector<std::array<uint8_t, kBufLen>> draws;
  for (int i = 0; i < 2; ++i) {
    hv::FakeHypervisor hv;
    auto clone = resume_machine(hv, image, {}, nullptr);
    ASSERT_EQ(avail_idx(clone->memory()), 1);
    ASSERT_EQ(used_idx(clone->memory()), 0);
    const GuestMemory& mem = clone->memory();
    vcpu_of(hv).push([&mem](hv::FakeVcpu&) -> hv::VcpuExit {
      auto until = std::chrono::steady_clock::now() + 2s;
      while (used_idx(mem) != 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100us);
      return hv::SystemReset{};
    });
    auto r = clone->run({});
    ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
    ASSERT_EQ(used_idx(clone->memory()), 1) << "clone " << i << ": the pending request was never served";
    draws.push_back(buffer(clone->memory()));
  }
  EXPECT_NE(draws[0], draws[1]) << "two clones got the same bytes";
  EXPECT_NE(draws[0], (std::array<uint8_t, kBufLen>{}));
}


// ---- helpers for the tests below ----------------------------------------

// A guest that stays busy in small steps (a write to the POST port each)
// until `go` is set, then resets: a running vCPU that a pause can still
// stop between two steps. If the VM stays paused, `go` is never seen.
struct SpinUntil {
  std::atomic<bool>* go;
  hv::VcpuExit operator()(hv::FakeVcpu& v) const {
    if (go->load()) return hv::SystemReset{};
    v.push(*this);
    std::this_thread::sleep_for(200us);
    static const uint8_t kByte = 0;
    return hv::IoOut{layout::kPostPort, 1, 1, std::span<const uint8_t>(&kByte, 1)};
  }
};

// Stops a run() that would otherwise wait forever (a VM left paused): the
// outcome is then kQuit with the message "watchdog".
class Watchdog {
 public:
  Watchdog(Machine& m, std::chrono::seconds limit)
      : thread_([this, &m, limit] {
          std::unique_lock lk(mu_);
          if (!cv_.wait_for(lk, limit, [&] { return done_; })) m.request_stop(StopReason::kQuit, "watchdog");
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

MachineConfig small_config(bool rng, size_t disks = 0) {
  MachineConfig cfg;
  cfg.mem_bytes = kMem;
  cfg.rng = rng;
  for (size_t i = 0; i < disks; ++i) {
    std::string name = fmt::format("vd{}", char('a' + i));
    cfg.disks.push_back({name, name, false});
  }
  return cfg;
}

std::unique_ptr<Machine> make_machine(hv::FakeHypervisor& hv, const MachineConfig& cfg) {
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(cfg.mem_bytes));
  std::vector<std::unique_ptr<block::DiskBackend>> disks;
  for (auto& d : cfg.disks) disks.push_back(std::make_unique<block::testing::MemDisk>(1 << 20, false, d.id));
  return std::make_unique<Machine>(hv, cfg, std::move(mem), std::move(disks), nullptr);
}

StateNode without_vcpus(StateNode n) {
  n.children.erase("vcpus");  // a running fake vCPU counts its steps
  return n;
}

constexpr uint64_t kMarker = 0x30000;

// An image of a VM with the rng device set up and "IMAGE" at kMarker.
void write_rng_image(const std::string& path) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  m->memory().write(kMarker, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("IMAGE"), 5));
  m->save_image(path, false);
}

std::string marker(const GuestMemory& mem) {
  char b[6] = {};
  auto s = mem.try_slice(kMarker, 5);
  if (s) std::memcpy(b, s->data(), 5);
  return b;
}

// ---- the device registry ---------------------------------------------------

TEST(MachineDevices, TheRegistryPlacesEveryDeviceAndDerivesTheCmdline) {
  hv::FakeHypervisor hv;
  auto cfg = small_config(/*rng=*/true, /*disks=*/2);
  cfg.debug_exit_port = layout::kDebugExitPort;
  auto m = make_machine(hv, cfg);
  struct Want {
    const char* name;
    BusKind bus;
    uint64_t base, size;
    std::optional<uint32_t> gsi;
    uint32_t queues;
    bool saved;
  };
  const std::vector<Want> want = {
      {"uart0", BusKind::kPio, 0x3f8, 8, 4, 0, true},
      {"i8042", BusKind::kPio, 0x60, 5, std::nullopt, 0, true},
      {"cmos", BusKind::kPio, 0x70, 2, std::nullopt, 0, true},
      {"post", BusKind::kPio, 0x80, 1, std::nullopt, 0, false},
      {"amber-ctl", BusKind::kPio, 0x5a0, CtlPort::kWindowSize, std::nullopt, 0, false},
      {"fw-cfg-absent", BusKind::kPio, 0x510, 12, std::nullopt, 0, false},
      {"virtio-blk@0", BusKind::kMmio, 0xd0000000, 0x1000, 5, 1, true},
      {"virtio-blk@1", BusKind::kMmio, 0xd0001000, 0x1000, 6, 1, true},
      {"virtio-rng", BusKind::kMmio, 0xd0002000, 0x1000, 7, 1, true},
      {"debug-exit", BusKind::kPio, 0xf4, 4, std::nullopt, 0, false},
  };
  auto& entries = m->devices().entries();
  ASSERT_EQ(entries.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(entries[i].name, want[i].name);
    EXPECT_EQ(entries[i].bus, want[i].bus);
    EXPECT_EQ(entries[i].base, want[i].base);
    EXPECT_EQ(entries[i].size, want[i].size);
    EXPECT_EQ(entries[i].gsi, want[i].gsi);
    EXPECT_EQ(entries[i].queues, want[i].queues);
    EXPECT_EQ(bool(entries[i].save), want[i].saved);
    EXPECT_EQ(entries[i].device->name(), want[i].name);
  }
  // The kernel arguments `amber run --kernel` puts between its defaults and
  // the user's (cli::compose_cmdline), from the registered windows.
  EXPECT_EQ(m->virtio_cmdline(),
            "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 "
            "virtio_mmio.device=4K@0xd0002000:7");
  // One ioeventfd per queue, on QueueNotify with datamatch = the queue index.
  auto& regs = hv.vms().back()->ioeventfds();
  ASSERT_EQ(regs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(regs[i].addr, 0xd0000000 + i * 0x1000 + mmio::kQueueNotify);
    EXPECT_EQ(regs[i].len, 4u);
    EXPECT_EQ(regs[i].datamatch, std::optional<uint64_t>(0));
  }
  // The image's device nodes are the saved entries, by name.
  StateNode devs = m->save_state().require_child("devices");
  std::vector<std::string> names;
  for (auto& [name, node] : devs.children) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"cmos", "i8042", "uart0", "virtio-blk@0", "virtio-blk@1", "virtio-rng"}));
}

TEST(MachineDevices, WithoutVirtioDevicesTheCmdlineFragmentIsEmpty) {
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, small_config(/*rng=*/false));
  EXPECT_EQ(m->virtio_cmdline(), "");
  EXPECT_TRUE(hv.vms().back()->ioeventfds().empty());
}

// A device with three queues that records which ones it was asked to serve.
class ThreeQueues : public virtio::VirtioDevice {
 public:
  uint32_t device_type() const noexcept override { return 4; }
  uint64_t features() const noexcept override { return 0; }
  uint32_t num_queues() const noexcept override { return 3; }
  uint16_t queue_max_size() const noexcept override { return kQueueSize; }
  void read_config(uint64_t, std::span<uint8_t> d) const noexcept override { std::memset(d.data(), 0, d.size()); }
  void write_config(uint64_t, std::span<const uint8_t>) noexcept override {}
  bool process_queue(uint32_t index, virtio::Queue&, const GuestMemory&) noexcept override {
    std::lock_guard lk(mu);
    served.push_back(index);
    return false;
  }
  void reset() noexcept override {}
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}

  std::mutex mu;
  std::vector<uint32_t> served;
  std::vector<uint32_t> take() {
    std::lock_guard lk(mu);
    return std::exchange(served, {});
  }
};

TEST(MachineDevices, EveryQueueOfAVirtioDeviceHasItsIoeventfdAndIsNotifiedAfterARestore) {
  hv::FakeHypervisor hv;
  auto vm = hv.create_vm();
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(kMem));
  Bus pio("pio"), mmio("mmio");
  DeviceRegistry reg(*vm, mem, pio, mmio);
  auto dev = std::make_unique<ThreeQueues>();
  ThreeQueues* d = dev.get();
  reg.add_virtio("virtio-test", std::move(dev));
  IoThread io;  // after reg: stops before the transports go
  reg.wire_ioeventfds(io);
  auto& regs = hv.vms().back()->ioeventfds();
  ASSERT_EQ(regs.size(), 3u);
  for (uint32_t q = 0; q < 3; ++q) {
    EXPECT_EQ(regs[q].addr, layout::kVirtioMmioBase + mmio::kQueueNotify);
    EXPECT_EQ(regs[q].datamatch, std::optional<uint64_t>(q));
  }
  EXPECT_EQ(reg.entries().at(0).queues, 3u);
  set_up_device(mmio, layout::kVirtioMmioBase, 3);

  io.start();
  uint64_t one = 1;
  ASSERT_EQ(::write(regs[2].eventfd, &one, sizeof one), ssize_t(sizeof one));  // the guest wrote 2 to QueueNotify
  auto until = std::chrono::steady_clock::now() + 2s;
  std::vector<uint32_t> got;
  while (got.empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    got = d->take();
  }
  EXPECT_EQ(got, std::vector<uint32_t>{2});
  io.stop();

  reg.notify_all_queues();
  EXPECT_EQ(d->take(), (std::vector<uint32_t>{0, 1, 2}));
}

// ---- the control port's move, fw_cfg, debug-exit ------------------------------

const DeviceEntry* entry(const Machine& m, std::string_view name) {
  for (auto& e : m.devices().entries())
    if (e.name == name) return &e;
  return nullptr;
}

// An image saved while the control port was at 0x510 has no "ctl_port" (nor
// "debug_exit_port") in its config: the VM resumed from it keeps the port at
// 0x510, so its guest's next ring still saves.
TEST(MachineCtlPort, AConfigWithoutTheCtlPortRestoresWithTheLegacyPort) {
  StateNode config = amber::save_state(to_state(small_config(/*rng=*/false)));
  ASSERT_TRUE(config.prop("ctl_port"));
  ASSERT_TRUE(config.prop("debug_exit_port"));
  config.props.erase("ctl_port");
  config.props.erase("debug_exit_port");
  MachineConfig cfg = from_state(load_state<ConfigState>(config, "config"));
  EXPECT_EQ(cfg.ctl_port, layout::kAmberCtlPortLegacy);
  EXPECT_EQ(cfg.debug_exit_port, 0);

  hv::FakeHypervisor hv;
  auto m = make_machine(hv, cfg);
  auto* ctl = entry(*m, "amber-ctl");
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->base, 0x510u);
  EXPECT_FALSE(entry(*m, "fw-cfg-absent")) << "the legacy control port is at the fw_cfg selector";
  EXPECT_FALSE(entry(*m, "debug-exit"));
  EXPECT_EQ(to_state(m->config()).ctl_port, 0x510) << "a save of it records the legacy port";

  TempImage img;
  vcpu_of(hv).push_io_out(0x510, save_word(), 4);
  RunOptions o;
  o.save_path = img.path;
  auto r = m->run(o);
  ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  // ... and the VM resumed from that image has it at 0x510 again.
  auto image = image::Image::open(img.path);  // outlives the clone
  hv::FakeHypervisor hv2;
  auto clone = resume_machine(hv2, image, {}, nullptr);
  EXPECT_EQ(clone->config().ctl_port, 0x510);
  EXPECT_EQ(entry(*clone, "amber-ctl")->base, 0x510u);
}

// What firmware written for QEMU does to find fw_cfg: select the signature
// (a 16-bit 0 to 0x510) and read four bytes at 0x511. amber answers all ones,
// not "QEMU", and nothing is saved, with the control port at either place.
TEST(MachineCtlPort, AFwCfgProbeReadsAllOnesAndSavesNothing) {
  for (uint16_t ctl : {layout::kAmberCtlPort, layout::kAmberCtlPortLegacy}) {
    SCOPED_TRACE(ctl);
    hv::FakeHypervisor hv;
    auto cfg = small_config(/*rng=*/false);
    cfg.ctl_port = ctl;
    auto m = make_machine(hv, cfg);
    auto& v = vcpu_of(hv);
    v.push_io_out(layout::kFwCfgPort, {0, 0}, 2);
    for (int i = 0; i < 4; ++i) v.push_io_in(layout::kFwCfgPort + 1, 1);
    v.push_exit(hv::SystemReset{});
    TempImage img;
    RunOptions o;
    o.save_path = img.path;
    bool saved = false;
    o.on_saved = [&](const SaveResult&) { saved = true; };
    auto r = m->run(o);
    EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
    EXPECT_FALSE(saved);
    ASSERT_EQ(v.filled_reads().size(), 4u);
    std::string sig;
    for (auto& f : v.filled_reads()) sig.append(f.data.begin(), f.data.end());
    EXPECT_NE(sig, "QEMU");
    if (ctl != layout::kAmberCtlPortLegacy) EXPECT_EQ(sig, std::string(4, '\xff'));
  }
}

TEST(MachineDebugExit, AGuestWriteEndsTheRunWithStatusVShiftedLeftOrOne) {
  hv::FakeHypervisor hv;
  auto cfg = small_config(/*rng=*/false);
  cfg.debug_exit_port = 0x501;
  auto m = make_machine(hv, cfg);
  vcpu_of(hv).push_io_out(0x501, {0x2a}, 1);
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.guest_status, 0x55);
  EXPECT_EQ(r.exit_status(), 0x55);
}

TEST(MachineDebugExit, AResumedVmKeepsItsDebugExitPort) {
  TempImage img;
  {
    hv::FakeHypervisor hv;
    auto cfg = small_config(/*rng=*/false);
    cfg.debug_exit_port = 0x501;
    make_machine(hv, cfg)->save_image(img.path, false);
  }
  auto image = image::Image::open(img.path);  // outlives the clone
  hv::FakeHypervisor hv;
  auto clone = resume_machine(hv, image, {}, nullptr);
  EXPECT_EQ(clone->config().debug_exit_port, 0x501);
  EXPECT_EQ(clone->config().ctl_port, layout::kAmberCtlPort);
  vcpu_of(hv).push_io_out(0x501, {0x01, 0x00, 0x00, 0x00}, 4);
  auto r = clone->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.exit_status(), 3);
}

// ---- save and restore --------------------------------------------------------

TEST(MachineSnapshot, SaveThenRestoreIntoAFreshMachineGivesTheSameTree) {
  hv::FakeHypervisor hv;
  auto cfg = small_config(/*rng=*/true, /*disks=*/1);
  auto m = make_machine(hv, cfg);
  set_up_rng(*m, layout::kVirtioMmioBase + layout::kVirtioMmioSize);  // after the disk
  // The guest has one request served, so the queue state is not the initial one.
  vcpu_of(hv).push(request_and_wait(m->memory(), hv.vms().back()->ioeventfds().at(1).eventfd));
  auto r = m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_EQ(used_idx(m->memory()), 1);
  StateNode a = m->save_state();

  hv::FakeHypervisor hv2;
  auto fresh = make_machine(hv2, cfg);
  EXPECT_NE(without_vcpus(fresh->save_state()), without_vcpus(a)) << "the test saves nothing but the initial state";
  fresh->restore_state(a);
  EXPECT_EQ(fresh->save_state(), a);
}

TEST(MachineSnapshot, AnImageResumesToTheTreeItWasSavedWith) {
  TempImage img;
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  SaveResult s = m->save_image(img.path, false);
  EXPECT_EQ(s.path, img.path);
  EXPECT_FALSE(m->paused());
  auto image = image::Image::open(img.path);
  EXPECT_EQ(image.machine(), m->save_state());
  hv::FakeHypervisor hv2;
  auto clone = resume_machine(hv2, image, {}, nullptr);
  EXPECT_EQ(clone->save_state(), image.machine());
}

// ---- in-place reset ------------------------------------------------------------

TEST(MachineReset, TheVmReturnsToItsImageAndKeepsRunning) {
  TempImage img;
  write_rng_image(img.path);
  auto image = image::Image::open(img.path);
  hv::FakeHypervisor hv;
  auto clone = resume_machine(hv, image, {}, nullptr);
  Machine* m = clone.get();
  std::atomic<bool> go{false};
  bool paused_after = true;
  std::string marker_after, error;
  uint16_t used_after = 0xffff;
  StateNode after;
  auto& v = vcpu_of(hv);
  int efd = hv.vms().back()->ioeventfds().at(0).eventfd;
  // The guest changes RAM and the device's state, then the host resets it.
  v.push([m, efd, &go, &paused_after, &marker_after, &used_after, &after, &error](hv::FakeVcpu& self) -> hv::VcpuExit {
    request_and_wait(m->memory(), efd)(self);
    m->memory().write(kMarker, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("DIRTY"), 5));
    m->post_task([m, &go, &paused_after, &marker_after, &used_after, &after, &error] {
      try {
        m->reset_to_origin();
      } catch (const std::exception& e) {
        error = e.what();
      }
      paused_after = m->paused();
      marker_after = marker(m->memory());
      used_after = used_idx(m->memory());
      m->pause_all();  // the state of a running VM is saved paused
      after = m->save_state();
      m->resume_all();
      go = true;
    });
    static const uint8_t kByte = 0;
    return hv::IoOut{layout::kPostPort, 1, 1, std::span<const uint8_t>(&kByte, 1)};
  });
  v.push(SpinUntil{&go});
  Watchdog dog(*m, 10s);
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the VM stayed paused after the reset)";
  EXPECT_EQ(error, "");
  EXPECT_FALSE(paused_after);
  EXPECT_EQ(marker_after, "IMAGE");
  EXPECT_EQ(used_after, 0);
  EXPECT_EQ(without_vcpus(after), without_vcpus(image.machine()));
}

TEST(MachineReset, AFailedResetLeavesTheVmInTheRunStateItHad) {
  TempImage img, other;
  write_rng_image(img.path);
  {
    // Same RAM layout, no rng device: restoring it into the VM fails after
    // the reset has begun (the guest's RAM is dropped already).
    hv::FakeHypervisor hv;
    make_machine(hv, small_config(/*rng=*/false))->save_image(other.path, false);
  }
  auto image = image::Image::open(img.path);
  auto wrong = image::Image::open(other.path);
  for (bool paused_before : {false, true}) {
    SCOPED_TRACE(paused_before ? "paused" : "running");
    hv::FakeHypervisor hv;
    auto clone = resume_machine(hv, image, {}, nullptr);
    Machine* m = clone.get();
    m->set_origin(&wrong);
    std::atomic<bool> go{false};
    std::string error;
    bool paused_after = !paused_before;
    m->post_task([&, m] {
      if (paused_before) m->pause_all();
      try {
        m->reset_to_origin();
      } catch (const std::exception& e) {
        error = e.what();
      }
      paused_after = m->paused();
      if (paused_before) m->resume_all();
      go = true;
    });
    vcpu_of(hv).push(SpinUntil{&go});
    Watchdog dog(*m, 10s);
    auto r = m->run({});
    EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the VM stayed paused after the failed reset)";
    EXPECT_NE(error.find("does not match"), std::string::npos) << error;
    EXPECT_EQ(paused_after, paused_before);
  }
}

TEST(MachineReset, ABootedVmRefusesAndKeepsRunning) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  EXPECT_THROW(m->reset_to_origin(), Error);
  EXPECT_FALSE(m->paused());
}

// ---- the failure policy of a triggered save ------------------------------------

TEST(MachineGuestSave, AFailedSaveWithThenExitEndsTheRunWithTheError) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
  std::atomic<bool> never{false};
  v.push(SpinUntil{&never});
  RunOptions o;
  o.save_path = "/nonexistent-amber-dir/x.amber";
  o.then_continue = false;
  bool saved = false, reported = false;
  o.on_saved = [&](const SaveResult&) { saved = true; };
  o.on_save_failed = [&](const std::string&) { reported = true; };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  never = true;
  EXPECT_EQ(r.reason, StopReason::kError);
  EXPECT_EQ(r.exit_status(), 1);
  EXPECT_EQ(r.message.rfind("save failed: ", 0), 0u) << r.message;
  EXPECT_FALSE(saved);
  EXPECT_FALSE(reported);  // the error is the run's outcome, reported once by the caller
}

TEST(MachineGuestSave, AFailedSaveWithThenContinueIsReportedAndTheVmGoesOn) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::atomic<bool> go{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);  // the vCPU that rang is held for the save
  v.push(SpinUntil{&go});                                  // and must be let go after it failed
  RunOptions o;
  o.save_path = "/nonexistent-amber-dir/x.amber";
  o.then_continue = true;
  std::string error;
  bool saved = false, paused_at_report = true;
  Machine* mp = m.get();
  o.on_saved = [&](const SaveResult&) { saved = true; };
  o.on_save_failed = [&](const std::string& e) {
    error = e;
    paused_at_report = mp->paused();
    go = true;
  };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the vCPU that rang was not let go)";
  EXPECT_FALSE(saved);
  EXPECT_FALSE(paused_at_report);
  EXPECT_EQ(error.rfind("save failed: ", 0), 0u) << error;
}

TEST(MachineGuestSave, ASavedVmWithThenContinueGoesOnAndReports) {
  TempImage img;
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::atomic<bool> go{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
  v.push(SpinUntil{&go});
  RunOptions o;
  o.save_path = img.path;
  o.then_continue = true;
  std::string saved_path;
  int progress_finished = 0;
  o.progress.finish = [&] { ++progress_finished; };
  o.on_saved = [&](const SaveResult& s) {
    saved_path = s.path;
    go = true;
  };
  o.on_save_failed = [&](const std::string& e) { ADD_FAILURE() << e; go = true; };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_EQ(saved_path, img.path);
  EXPECT_EQ(progress_finished, 1);
  EXPECT_NO_THROW(image::Image::open(img.path));
}

// ---- the control-socket commands, without a socket -----------------------------

std::string call(Machine& m, api::Cmd cmd, std::string path = {}, bool then_exit = false) {
  api::Request r;
  r.cmd = cmd;
  r.path = std::move(path);
  r.then_exit = then_exit;
  return api::execute(m, r);
}

bool has(const std::string& answer, const std::string& part) { return answer.find(part) != std::string::npos; }

TEST(MachineApi, StatusPauseResumeSaveResetKeepTheRunStateTheyPromise) {
  TempImage img, saved;
  write_rng_image(img.path);
  auto image = image::Image::open(img.path);
  hv::FakeHypervisor hv;
  auto clone = resume_machine(hv, image, {}, nullptr);
  Machine& m = *clone;
  std::atomic<bool> go{false};
  std::vector<std::string> log;  // "answer | paused()" per request
  auto step = [&](api::Cmd cmd, std::string path = {}, bool then_exit = false) {
    std::string a = call(m, cmd, std::move(path), then_exit);
    log.push_back(a + (m.paused() ? " | paused" : " | running"));
    return a;
  };
  const std::string bad = "/nonexistent-amber-dir/x.amber";
  m.post_task([&] {
    step(api::Cmd::kStatus);
    step(api::Cmd::kPause);
    step(api::Cmd::kStatus);
    step(api::Cmd::kSave, saved.path);  // 3: a paused VM stays paused
    step(api::Cmd::kSave, bad);         // 4: also when the save fails
    step(api::Cmd::kReset);             // 5: and across a reset
    step(api::Cmd::kResume);
    step(api::Cmd::kSave, bad);         // 7: a failed save of a running VM resumes it
    step(api::Cmd::kSave, saved.path);  // 8
    step(api::Cmd::kReset);             // 9
    step(api::Cmd::kSave, saved.path, /*then_exit=*/true);  // 10: stays paused, then the VM stops
  });
  vcpu_of(hv).push(SpinUntil{&go});
  Watchdog dog(m, 10s);
  auto r = m.run({});
  EXPECT_EQ(r.reason, StopReason::kSaved) << r.message;
  ASSERT_EQ(log.size(), 11u);
  auto expect = [&](size_t i, std::initializer_list<const char*> parts, const char* state) {
    SCOPED_TRACE(fmt::format("request {}: {}", i, log[i]));
    for (auto p : parts) EXPECT_TRUE(has(log[i], p)) << p;
    EXPECT_TRUE(has(log[i], std::string(" | ") + state));
  };
  expect(0, {R"({"ok":true,"state":"running")", R"("vcpus":1)", R"("image":")"}, "running");
  expect(1, {R"({"ok":true,"state":"paused"})"}, "paused");
  expect(2, {R"({"ok":true,"state":"paused")"}, "paused");
  expect(3, {R"({"ok":true,"path":")", R"("then":"continue")"}, "paused");
  expect(4, {R"({"ok":false,"error":")"}, "paused");
  expect(5, {R"({"ok":true,"state":"paused","reset_ms":)"}, "paused");
  expect(6, {R"({"ok":true,"state":"running"})"}, "running");
  expect(7, {R"({"ok":false,"error":")"}, "running");
  expect(8, {R"({"ok":true,"path":")"}, "running");
  expect(9, {R"({"ok":true,"state":"running","reset_ms":)"}, "running");
  expect(10, {R"({"ok":true,"path":")", R"("then":"exit")"}, "paused");
  // The image the API saved resumes.
  auto again = image::Image::open(saved.path);
  hv::FakeHypervisor hv2;
  EXPECT_NO_THROW(resume_machine(hv2, again, {}, nullptr));
}

TEST(MachineApi, ABootedVmAnswersResetWithAnError) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::string a;
  m->post_task([&] {
    a = call(*m, api::Cmd::kReset);
    m->request_stop(StopReason::kQuit);
  });
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kQuit);
  EXPECT_EQ(a, R"({"ok":false,"error":"reset needs a VM resumed from an image; this one was booted"})");
  EXPECT_FALSE(m->paused());
}

}  // namespace
}  // namespace amber::vmm
