// Machine with the fake hypervisor (src/hv/fake_hypervisor.h), without KVM:
// the device registry, a guest-requested save and the virtio-rng device,
// save/restore of the state tree and the in-place reset. The fake vCPU plays
// the guest: its scripted steps write the virtqueue in guest memory and
// signal the queue's ioeventfd the way KVM does for a QueueNotify write.
// The control port, debug-exit, the failure policy of saves and the
// control-socket commands are in machine_policy_test.cpp.
#include "vmm/machine_test_support.h"

namespace amber::vmm {
namespace {

using namespace testing;
using namespace std::chrono_literals;
namespace mmio = virtio::mmio;

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

}  // namespace
}  // namespace amber::vmm
