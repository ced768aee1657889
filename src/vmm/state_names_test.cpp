// The naming rule for saved state (docs/conventions.md, "State names") over
// the whole tree a Machine saves with the fake hypervisor: config, every
// vCPU, the VM and every device the Machine can build (UART, i8042, CMOS,
// virtio-blk, virtio-rng). A device or field added with a name in a third
// style fails here; the real KVM VM and vCPU names are checked in
// src/kvm/kvm_state_test.cpp.
#include "snapshot/state_names.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "hv/fake_hypervisor.h"
#include "virtio/testing/mem_disk.h"
#include "vmm/machine.h"

namespace amber::vmm {
namespace {

TEST(StateNames, TheRuleAndItsFrozenExceptions) {
  for (auto ok : {"lcr", "rx_fifo", "uart0", "vcpu@0", "disks@15", "queues#count", "host_realtime_ns", "mem-bytes",
                  "read-only", "virtio-blk@1", "virtio-rng"})
    EXPECT_TRUE(image::state_name_ok(ok)) << ok;
  for (auto bad : {"", "memBytes", "Lcr", "new-name", "read-write", "_x", "0x", "vcpu@", "vcpu@a", "a b", "a.b",
                   "virtio-net@0"})
    EXPECT_FALSE(image::state_name_ok(bad)) << bad;
}

TEST(StateNames, EveryNameAMachineSavesFollowsTheRule) {
  hv::FakeHypervisor hv;
  MachineConfig cfg;
  cfg.cpus = 2;
  cfg.mem_bytes = 16ull << 20;
  cfg.cmdline = "console=ttyS0";
  cfg.rng = true;
  cfg.disks.push_back({"root", "vda", false});
  GuestMemory mem;
  mem.add_region(0, Mapping::anonymous(cfg.mem_bytes));
  std::vector<std::unique_ptr<block::DiskBackend>> disks;
  disks.push_back(std::make_unique<block::testing::MemDisk>(1 << 20));
  Machine m(hv, cfg, std::move(mem), std::move(disks), nullptr);

  StateNode tree = m.save_state();
  EXPECT_EQ(image::misnamed_state(tree), std::vector<std::string>{});

  // The walk reached every part of the tree (a device missing from it would
  // otherwise pass unchecked).
  for (auto node : {"config", "vcpus", "vm", "devices"}) EXPECT_TRUE(tree.child(node)) << node;
  ASSERT_TRUE(tree.child("devices"));
  EXPECT_GE(tree.child("devices")->children.size(), 5u) << "uart0, i8042, cmos, virtio-blk@0, virtio-rng";
  ASSERT_TRUE(tree.child("vcpus"));
  EXPECT_EQ(tree.child("vcpus")->children.size(), 2u);
}

}  // namespace
}  // namespace amber::vmm
