#pragma once
// Shared by the real-KVM Machine tests: a bare-metal guest from
// guest-tests/bare in a Machine, with its console captured and a port that
// records the 32-bit values the guest writes to 0x520.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

#include "amber/layout.h"
#include "firmware/memory_map.h"
#include "kvm/kvm_hypervisor.h"
#include "snapshot/image.h"
#include "vmm/machine.h"
#include "vmm/resume.h"

namespace amber::vmm::testing {

inline std::vector<uint8_t> bare_guest(const char* name) {
  std::ifstream f(std::string(AMBER_BARE_DIR) + "/" + name + ".bin", std::ios::binary);
  EXPECT_TRUE(f) << "missing bare-metal guest " << name;
  return {std::istreambuf_iterator<char>(f), {}};
}

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
  size_t count() {
    std::lock_guard lk(mu);
    return values.size();
  }
  std::mutex mu;
  std::vector<uint32_t> values;
};

struct BareVm {
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
  // Set before boot(): the debug-exit port (0: none) and the control port.
  uint16_t debug_exit_port = 0;
  uint16_t ctl_port = layout::kAmberCtlPort;

  void boot(const char* name, uint64_t mem_bytes = 128ull << 20, bool rng = false) {
    MachineConfig cfg;
    cfg.mem_bytes = mem_bytes;
    cfg.rng = rng;
    cfg.debug_exit_port = debug_exit_port;
    cfg.ctl_port = ctl_port;
    GuestMemory mem;
    for (auto& r : x86::ram_layout(mem_bytes)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
    m = std::make_unique<Machine>(hv, cfg, std::move(mem), std::vector<std::unique_ptr<block::DiskBackend>>{}, nullptr);
    attach();
    m->boot_bare(bare_guest(name));
  }
  void resume(const image::Image& img) {
    m = resume_machine(hv, img, {}, nullptr);
    attach();
  }
};

}  // namespace amber::vmm::testing
