#include "hv/fake_hypervisor.h"

#include <gtest/gtest.h>

namespace amber::hv {
namespace {

TEST(FakeHypervisor, RecordsVmsSlotsAndVcpus) {
  FakeHypervisor h;
  auto vm = h.create_vm();
  ASSERT_EQ(h.vms().size(), 1u);
  auto& fvm = *h.vms()[0];
  uint8_t mem[64];
  vm->add_memory({0, 0x1000, sizeof(mem), mem});
  EXPECT_THROW(vm->add_memory({0, 0x8000, 16, mem}), Error);     // same slot
  EXPECT_THROW(vm->add_memory({1, 0x1010, 16, mem}), Error);     // overlap
  ASSERT_EQ(fvm.slots().size(), 1u);
  EXPECT_EQ(fvm.slots()[0].gpa, 0x1000u);
  auto v0 = vm->create_vcpu(0, 2);
  auto v1 = vm->create_vcpu(1, 2);
  EXPECT_THROW(vm->create_vcpu(2, 2), Error);
  ASSERT_EQ(fvm.vcpus().size(), 2u);
  EXPECT_EQ(fvm.vcpus()[1]->index(), 1u);
  EXPECT_EQ(fvm.vcpus()[1]->total(), 2u);
}

TEST(FakeHypervisor, IrqLinesRecordLevelsAndTriggers) {
  FakeVm vm;
  auto uart = vm.irq_line(4);
  auto blk = vm.irqfd_line(5);
  uart->set_level(true);
  EXPECT_TRUE(vm.level(4));
  blk->trigger();
  uart->set_level(false);
  EXPECT_FALSE(vm.level(4));
  uart->trigger();
  using K = IrqEvent::Kind;
  EXPECT_EQ(vm.irq_events(), (std::vector<IrqEvent>{{4, K::kLevel, true},
                                                    {5, K::kIrqfdTrigger, false},
                                                    {4, K::kLevel, false},
                                                    {4, K::kTrigger, false}}));
}

TEST(FakeHypervisor, Ioeventfds) {
  FakeVm vm;
  EXPECT_TRUE(vm.add_ioeventfd(0xd0000050, 4, 0, 7));
  EXPECT_TRUE(vm.add_ioeventfd(0xd0001050, 4, std::nullopt, 8));
  ASSERT_EQ(vm.ioeventfds().size(), 2u);
  EXPECT_EQ(vm.ioeventfds()[0].datamatch, std::optional<uint64_t>(0));
  EXPECT_FALSE(vm.ioeventfds()[1].datamatch);
  vm.set_ioeventfd_supported(false);
  EXPECT_FALSE(vm.add_ioeventfd(0xd0002050, 4, 1, 9));
  EXPECT_EQ(vm.ioeventfds().size(), 2u);
}

TEST(FakeVcpu, ScriptedExitsThenHalt) {
  FakeVcpu v(0, 1);
  v.push_io_out(0x3f8, {'h', 'i'});
  v.push_mmio_write(0xd0000000, {1, 2, 3, 4});
  v.push_exit(Shutdown{});
  auto e = v.run();
  auto* out = std::get_if<IoOut>(&e);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->port, 0x3f8);
  EXPECT_EQ(out->count, 2u);
  EXPECT_EQ(std::string(out->data.begin(), out->data.end()), "hi");
  e = v.run();
  ASSERT_TRUE(std::holds_alternative<MmioWrite>(e));
  EXPECT_EQ(std::get<MmioWrite>(e).data.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<Shutdown>(v.run()));
  EXPECT_TRUE(std::holds_alternative<Halt>(v.run()));
  EXPECT_EQ(v.regs().counter, 3u);
}

TEST(FakeVcpu, ReadsFilledByTheVmmAreObserved) {
  FakeVcpu v(0, 1);
  std::vector<uint64_t> seen;
  v.on_filled([&](const FilledRead& r) { seen.push_back(r.addr); });
  v.push_io_in(0x3fd, 1, 2);
  v.push_mmio_read(0xd0000004, 4);
  auto e = v.run();
  auto& in = std::get<IoIn>(e);
  ASSERT_EQ(in.data.size(), 2u);
  in.data[0] = 0x60;
  in.data[1] = 0x61;
  e = v.run();
  auto& rd = std::get<MmioRead>(e);
  rd.data[3] = 0x99;
  EXPECT_TRUE(std::holds_alternative<Halt>(v.run()));
  ASSERT_EQ(v.filled_reads().size(), 2u);
  EXPECT_FALSE(v.filled_reads()[0].is_mmio);
  EXPECT_EQ(v.filled_reads()[0].data, (std::vector<uint8_t>{0x60, 0x61}));
  EXPECT_TRUE(v.filled_reads()[1].is_mmio);
  EXPECT_EQ(v.filled_reads()[1].data, (std::vector<uint8_t>{0, 0, 0, 0x99}));
  EXPECT_EQ(seen, (std::vector<uint64_t>{0x3fd, 0xd0000004}));
}

TEST(FakeVcpu, ImmediateExitKeepsTheScript) {
  FakeVcpu v(0, 1);
  v.push_exit(Halt{});
  v.set_immediate_exit(true);
  EXPECT_TRUE(std::holds_alternative<Interrupted>(v.run()));
  EXPECT_EQ(v.pending(), 1u);
  v.set_immediate_exit(false);
  v.run();
  EXPECT_EQ(v.pending(), 0u);
}

TEST(FakeVcpu, CustomStep) {
  FakeVcpu v(0, 1);
  v.push([](FakeVcpu& self) -> VcpuExit {
    self.regs().rip += 2;
    return InternalError{"boom"};
  });
  EXPECT_EQ(std::get<InternalError>(v.run()).what, "boom");
  EXPECT_EQ(v.regs().rip, 2u);
}

TEST(FakeVcpu, BootStateAndSaveRestore) {
  FakeVcpu v(0, 2);
  CpuBootState b;
  b.rip = 0x100000;
  v.set_boot_state(b);
  ASSERT_TRUE(v.boot_state());
  v.push_exit(Halt{});
  v.run();
  StateNode n = v.save_state();
  FakeVcpu w(0, 2);
  w.restore_state(n);
  EXPECT_EQ(w.regs(), v.regs());
  EXPECT_EQ(w.regs().rip, 0x100000u);
  EXPECT_EQ(w.regs().counter, 1u);

  FakeVcpu ap(1, 2);
  EXPECT_THROW(ap.set_boot_state(b), Error);
  EXPECT_THROW(ap.restore_state(n), Error);  // index mismatch
  StateNode bad = n;
  bad.props["rip"].pop_back();
  EXPECT_THROW(w.restore_state(bad), Error);
  bad = n;
  bad.props.erase("counter");
  EXPECT_THROW(w.restore_state(bad), Error);
}

TEST(FakeVm, SaveRestore) {
  FakeVm a;
  a.state().clock = 1234;
  a.irq_line(4)->set_level(true);
  StateNode n = a.save_state();
  FakeVm b;
  b.restore_state(n);
  EXPECT_EQ(b.state(), a.state());
  EXPECT_TRUE(b.level(4));
  EXPECT_EQ(b.restore_count(), 1);
  EXPECT_THROW(b.restore_state(StateNode{}), Error);
  StateNode bad = n;
  bad.props["clock"].push_back(0);
  EXPECT_THROW(b.restore_state(bad), Error);
}

}  // namespace
}  // namespace amber::hv
