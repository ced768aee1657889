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
#include "firmware/multiboot.h"
#include "kvm/kvm_hypervisor.h"
#include "snapshot/image.h"
#include "vmm/machine.h"
#include "vmm/resume.h"

namespace amber::vmm::testing {

// A file of the build's guest-tests/bare folder.
inline std::string bare_guest_path(const std::string& file) { return std::string(AMBER_BARE_DIR) + "/" + file; }

inline std::vector<uint8_t> bare_guest_file(const std::string& file) {
  std::ifstream f(bare_guest_path(file), std::ios::binary);
  EXPECT_TRUE(f) << "missing bare-metal guest " << file;
  return {std::istreambuf_iterator<char>(f), {}};
}

inline std::vector<uint8_t> bare_guest(const char* name) { return bare_guest_file(std::string(name) + ".bin"); }

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
  // Set before boot(): virtio-blk disks, one config per backend (taken by the Machine).
  std::vector<DiskConfig> disk_configs;
  std::vector<std::unique_ptr<block::DiskBackend>> disks;

  void boot(const char* name, uint64_t mem_bytes = 128ull << 20, bool rng = false) {
    create(mem_bytes, rng);
    m->boot_bare(bare_guest(name));
  }
  // A multiboot kernel of guest-tests/bare (e.g. "mb32.elf") booted as
  // `amber run --kernel FILE --cmdline ARGS` boots it: QEMU's command line
  // (the file name, then ARGS) and Machine::boot_kernel, which detects the
  // format. Returns the loader's description.
  std::string boot_kernel(const std::string& file, const std::vector<x86::BootModule>& modules,
                          const std::string& args, uint64_t mem_bytes = 128ull << 20) {
    create(mem_bytes, false);
    m->set_cmdline(x86::multiboot_command_line(file, args));
    return m->boot_kernel(bare_guest_file(file), modules);
  }
  void create(uint64_t mem_bytes, bool rng) {
    MachineConfig cfg;
    cfg.mem_bytes = mem_bytes;
    cfg.rng = rng;
    cfg.debug_exit_port = debug_exit_port;
    cfg.ctl_port = ctl_port;
    cfg.disks = disk_configs;
    GuestMemory mem;
    for (auto& r : x86::ram_layout(mem_bytes)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
    m = std::make_unique<Machine>(hv, cfg, std::move(mem), std::move(disks), nullptr);
    attach();
  }
  void resume(const image::Image& img) {
    m = resume_machine(hv, img, {}, nullptr);
    attach();
  }
};

}  // namespace amber::vmm::testing
