// Machine with the fake hypervisor (src/hv/fake_hypervisor.h): a guest-
// requested save and the virtio-rng device, without KVM. The fake vCPU
// plays the guest: its scripted steps write the virtqueue in guest memory
// and signal the queue's ioeventfd the way KVM does for a QueueNotify write.
#include "vmm/machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include "amber/layout.h"
#include "hv/fake_hypervisor.h"
#include "snapshot/image.h"
#include "virtio/virtio_spec.h"
#include "vmm/ctl_port.h"
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

void write_reg(Machine& m, uint64_t offset, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  ASSERT_TRUE(m.mmio().write(layout::kVirtioMmioBase + offset, b));
}

// What a driver does before it uses the device (§3.1.1, §4.2.3.2), from
// the test thread before the VM runs.
void set_up_rng(Machine& m) {
  write_reg(m, mmio::kStatus, 0);
  write_reg(m, mmio::kStatus, virtio::kStatusAcknowledge);
  write_reg(m, mmio::kStatus, virtio::kStatusAcknowledge | virtio::kStatusDriver);
  write_reg(m, mmio::kDriverFeaturesSel, 1);
  write_reg(m, mmio::kDriverFeatures, 1);  // VIRTIO_F_VERSION_1
  write_reg(m, mmio::kDriverFeaturesSel, 0);
  write_reg(m, mmio::kDriverFeatures, 0);
  write_reg(m, mmio::kStatus, virtio::kStatusAcknowledge | virtio::kStatusDriver | virtio::kStatusFeaturesOk);
  write_reg(m, mmio::kQueueSel, 0);
  write_reg(m, mmio::kQueueNum, kQueueSize);
  write_reg(m, mmio::kQueueDescLow, uint32_t(kDesc));
  write_reg(m, mmio::kQueueDriverLow, uint32_t(kAvail));
  write_reg(m, mmio::kQueueDeviceLow, uint32_t(kUsed));
  write_reg(m, mmio::kQueueReady, 1);
  write_reg(m, mmio::kStatus,
            virtio::kStatusAcknowledge | virtio::kStatusDriver | virtio::kStatusFeaturesOk | virtio::kStatusDriverOk);
}

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

}  // namespace
}  // namespace amber::vmm
