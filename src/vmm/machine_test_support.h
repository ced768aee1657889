#pragma once
// Helpers for the Machine tests on the fake hypervisor (machine_test.cpp,
// machine_policy_test.cpp): a scripted guest that drives the virtio-rng
// queue, small machines, a run() watchdog, images with a marker.
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


namespace amber::vmm::testing {

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

inline hv::FakeVcpu& vcpu_of(hv::FakeHypervisor& hv) { return *hv.vms().back()->vcpus().at(0); }
inline int rng_eventfd(hv::FakeHypervisor& hv) {
  auto& regs = hv.vms().back()->ioeventfds();
  EXPECT_EQ(regs.size(), 1u) << "one virtio device, the rng";
  return regs.at(0).eventfd;
}

inline void write_reg(Bus& bus, uint64_t base, uint64_t offset, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  ASSERT_TRUE(bus.write(base + offset, b));
}

// What a driver does before it uses the device (§3.1.1, §4.2.3.2), from
// the test thread before the VM runs: `queues` queues, queue q with its rings
// at kDesc/kAvail/kUsed + q * 64 KiB.
inline void set_up_device(Bus& bus, uint64_t base, uint32_t queues = 1) {
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

inline void set_up_rng(Machine& m, uint64_t base = layout::kVirtioMmioBase) { set_up_device(m.mmio(), base); }

// The guest's side of one request, as guest-tests/bare/rng.S does it:
// descriptor 0 is a 16-byte device-writable buffer, then the avail index.
inline void publish_request(const GuestMemory& mem) {
  mem.write_obj<uint64_t>(kDesc, kBuf);
  mem.write_obj<uint32_t>(kDesc + 8, kBufLen);
  mem.write_obj<uint16_t>(kDesc + 12, virtio::kDescFlagWrite);
  mem.write_obj<uint16_t>(kDesc + 14, 0);
  mem.write_obj<uint16_t>(kAvail + 4, 0);  // ring[0] = descriptor 0
  mem.write_obj<uint16_t>(kAvail + 2, 1);  // avail idx
}

inline uint16_t used_idx(const GuestMemory& mem) { return mem.read_obj<uint16_t>(kUsed + 2).value_or(0xffff); }
inline uint16_t avail_idx(const GuestMemory& mem) { return mem.read_obj<uint16_t>(kAvail + 2).value_or(0xffff); }
inline std::array<uint8_t, kBufLen> buffer(const GuestMemory& mem) {
  std::array<uint8_t, kBufLen> b{};
  auto s = mem.try_slice(kBuf, kBufLen);
  if (s) std::memcpy(b.data(), s->data(), kBufLen);
  return b;
}

inline std::vector<uint8_t> save_word() {
  uint32_t v = CtlPort::kSaveRequest;
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

// A scripted step: the guest publishes a request, kicks the queue (what
// KVM does for a QueueNotify write with an ioeventfd) and spins until the
// device has used it, like rng.S's poll loop. Gives up after 2 s.
inline hv::FakeVcpu::Step request_and_wait(const GuestMemory& mem, int efd) {
  return [&mem, efd](hv::FakeVcpu&) -> hv::VcpuExit {
    publish_request(mem);
    uint64_t one = 1;
    EXPECT_EQ(::write(efd, &one, sizeof one), ssize_t(sizeof one));
    auto until = std::chrono::steady_clock::now() + 2s;
    while (used_idx(mem) != 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100us);
    return hv::SystemReset{};  // the guest is done: run() ends with kGuestReset
  };
}

inline std::unique_ptr<Machine> boot_with_rng(hv::FakeHypervisor& hv) {
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

inline MachineConfig small_config(bool rng, size_t disks = 0) {
  MachineConfig cfg;
  cfg.mem_bytes = kMem;
  cfg.rng = rng;
  for (size_t i = 0; i < disks; ++i) {
    std::string name = fmt::format("vd{}", char('a' + i));
    cfg.disks.push_back({name, name, false});
  }
  return cfg;
}

inline std::unique_ptr<Machine> make_machine(hv::FakeHypervisor& hv, const MachineConfig& cfg) {
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(cfg.mem_bytes));
  std::vector<std::unique_ptr<block::DiskBackend>> disks;
  for (auto& d : cfg.disks) disks.push_back(std::make_unique<block::testing::MemDisk>(1 << 20, false, d.id));
  return std::make_unique<Machine>(hv, cfg, std::move(mem), std::move(disks), nullptr);
}

inline StateNode without_vcpus(StateNode n) {
  n.children.erase("vcpus");  // a running fake vCPU counts its steps
  return n;
}

constexpr uint64_t kMarker = 0x30000;

// An image of a VM with the rng device set up and "IMAGE" at kMarker.
inline void write_rng_image(const std::string& path) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  m->memory().write(kMarker, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("IMAGE"), 5));
  m->save_image(path, false);
}

inline std::string marker(const GuestMemory& mem) {
  char b[6] = {};
  auto s = mem.try_slice(kMarker, 5);
  if (s) std::memcpy(b, s->data(), 5);
  return b;
}

}  // namespace amber::vmm::testing
