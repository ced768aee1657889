// Bare-metal guests on real KVM through the whole VMM (Machine): console,
// i8042 reboot, memory, and a save/restore into a fresh VM mid-loop.
// Runs natively where /dev/kvm exists, otherwise inside tools/kvm-sandbox.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <mutex>

#include "firmware/memory_map.h"
#include "kvm/kvm_hypervisor.h"
#include "snapshot/image.h"
#include "vmm/machine.h"
#include "vmm/resume.h"

namespace amber::vmm {
namespace {

std::vector<uint8_t> guest(const char* name) {
  std::ifstream f(std::string(AMBER_BARE_DIR) + "/" + name + ".bin", std::ios::binary);
  EXPECT_TRUE(f) << "missing bare-metal guest " << name;
  return {std::istreambuf_iterator<char>(f), {}};
}

// Records the 32-bit values the counter guest writes to its test port.
class TestPort : public Device {
 public:
  std::string_view name() const override { return "test-port"; }
  void read(uint64_t, std::span<uint8_t> d) noexcept override { std::fill(d.begin(), d.end(), 0); }
  void write(uint64_t, std::span<const uint8_t> d) noexcept override {
    uint32_t v = 0;
    std::memcpy(&v, d.data(), std::min<size_t>(d.size(), 4));
    std::lock_guard lk(mu);
    values.push_back(v);
  }
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}
  std::mutex mu;
  std::vector<uint32_t> values;
};

GuestMemory ram(uint64_t bytes) {
  GuestMemory mem;
  for (auto& r : x86::ram_layout(bytes)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
  return mem;
}

struct Harness {
  kvm::KvmHypervisor hv;
  std::unique_ptr<Machine> m;
  TestPort port;
  std::string out;
  std::mutex out_mu;
  void attach() {
    m->pio().insert(port, 0x520, 4);
    m->set_output_observer([this](std::span<const uint8_t> b) {
      std::lock_guard lk(out_mu);
      out.append(b.begin(), b.end());
    });
  }
  void boot(const char* name, uint64_t mem = 128ull << 20) {
    MachineConfig cfg;
    cfg.mem_bytes = mem;
    m = std::make_unique<Machine>(hv, cfg, ram(mem), std::vector<std::unique_ptr<block::DiskBackend>>{}, nullptr);
    attach();
    m->boot_bare(guest(name));
  }
};

TEST(BareMetal, HelloPrintsAndRebootsThroughI8042) {
  Harness h;
  h.boot("hello");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("Hello from a bare-metal amber guest"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterWritesEveryValueInOrder) {
  Harness h;
  h.boot("counter");
  auto r = h.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_EQ(h.port.values.size(), 3000u);
  for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(h.port.values[i], i + 1);
  EXPECT_NE(h.out.find("counter done 3000"), std::string::npos) << h.out;
}

TEST(BareMetal, MemtestFillsAndChecks32MiB) {
  Harness h;
  h.boot("memtest");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("memtest ok"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterSavedMidLoopContinuesExactlyInAFreshVm) {
  char dir[] = "/tmp/amber-kvm-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/counter.amber";

  Harness first;
  first.boot("counter");
  auto r1 = first.m->run({"tick 1000", path, false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  std::vector<uint32_t> before = first.port.values;
  ASSERT_GE(before.size(), 1000u);
  ASSERT_LT(before.size(), 3000u);
  first.m.reset();

  auto img = image::Image::open(path);
  Harness second;
  second.m = resume_machine(second.hv, img, {}, nullptr);
  second.attach();
  auto r2 = second.m->run({});
  ASSERT_EQ(r2.reason, StopReason::kGuestReset) << r2.message;
  ASSERT_FALSE(second.port.values.empty());
  EXPECT_EQ(second.port.values.front(), before.back() + 1) << "the resumed guest did not continue where it stopped";
  for (size_t i = 1; i < second.port.values.size(); ++i) ASSERT_EQ(second.port.values[i], second.port.values[i - 1] + 1);
  EXPECT_EQ(second.port.values.back(), 3000u);
  EXPECT_NE(second.out.find("counter done 3000"), std::string::npos) << second.out;
  EXPECT_TRUE(img.verify().ok);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace amber::vmm
