// Bare-metal guests on a real /dev/kvm (suite 'kvm'; run inside
// tools/kvm-sandbox.sh). Every exit costs up to ~100 us there: keep guests short.
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "amber/layout.h"
#include "amber/mapping.h"
#include "kvm/cpuid.h"
#include "kvm/irq_lines.h"
#include "kvm/kvm_hypervisor.h"
#include "kvm/kvm_vcpu.h"
#include "kvm/kvm_vm.h"
#include "kvm/state_props.h"
#include "kvm/test_guest.h"

namespace amber::kvm {
namespace {

using namespace amber::kvm::test;

struct Guest {
  KvmHypervisor hv;
  std::unique_ptr<hv::Vm> vm = hv.create_vm();
  Mapping mem = Mapping::anonymous(kGuestMemSize);
  std::unique_ptr<hv::Vcpu> vcpu;

  Guest() { vm->add_memory({0, 0, mem.size(), mem.data()}); }
  std::span<uint8_t> bytes() { return {mem.data(), mem.size()}; }
  hv::Vcpu& boot(const CpuBootState& s) {
    vcpu = vm->create_vcpu(0, 1);
    vcpu->set_boot_state(s);
    return *vcpu;
  }
};

template <class T>
T expect_exit(hv::Vcpu& v) {
  auto ex = v.run();
  if (auto* e = std::get_if<hv::InternalError>(&ex)) ADD_FAILURE() << "internal error: " << e->what;
  EXPECT_TRUE(std::holds_alternative<T>(ex)) << "exit variant index " << ex.index();
  return std::holds_alternative<T>(ex) ? std::get<T>(ex) : T{};
}

TEST(Kvm, SystemAndRequiredCaps) {
  KvmSystem sys;
  EXPECT_GE(sys.vcpu_mmap_size(), sizeof(kvm_run));
  EXPECT_FALSE(sys.supported_cpuid().empty());
  EXPECT_FALSE(sys.msr_index_list().empty());
  for (const auto& c : kRequiredCaps) EXPECT_GT(sys.check_capability(c.cap), 0) << c.name;
  KvmVm vm(std::make_shared<const KvmSystem>());
  const auto& caps = vm.caps();
  std::printf("optional caps: xsave=%d xsave2_size=%u xcrs=%d debugregs=%d vcpu_events=%d clock_flags=%#x "
              "kvmclock_ctrl=%d get_tsc_khz=%d tsc_control=%d\n",
              caps.xsave, caps.xsave2_size, caps.xcrs, caps.debugregs, caps.vcpu_events, caps.clock_flags,
              caps.kvmclock_ctrl, caps.get_tsc_khz, caps.tsc_control);
}

TEST(Kvm, RealModeOutThenHalt) {
  Guest g;
  load(g.bytes(), 0x1000, kOutHlt);
  auto& v = g.boot(real_mode_state(0x1000));
  auto out = expect_exit<hv::IoOut>(v);
  EXPECT_EQ(out.port, 0x10);
  EXPECT_EQ(out.size, 1);
  EXPECT_EQ(out.count, 1u);
  ASSERT_EQ(out.data.size(), 1u);
  EXPECT_EQ(out.data[0], 0x42);

  // With the in-kernel LAPIC, HLT does not exit to userspace: the vCPU
  // sleeps in KVM_RUN (mp_state HALTED) until an interrupt or a kick. Kick
  // it until the saved mp_state shows the halt; never assert on timing.
  static pthread_t self;
  self = pthread_self();
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR1, &sa, nullptr);  // no SA_RESTART: KVM_RUN returns EINTR
  std::atomic<bool> stop{false};
  std::thread kicker([&] {
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      v.set_immediate_exit(true);
      pthread_kill(self, SIGUSR1);
    }
  });
  uint32_t mp = KVM_MP_STATE_RUNNABLE;
  int rounds = 0;
  for (; rounds < 2000 && mp != KVM_MP_STATE_HALTED; ++rounds) {
    auto ex = v.run();
    v.set_immediate_exit(false);
    ASSERT_TRUE(std::holds_alternative<hv::Interrupted>(ex) || std::holds_alternative<hv::Halt>(ex)) << ex.index();
    if (std::holds_alternative<hv::Halt>(ex)) break;
    mp = get_struct<kvm_mp_state>(v.save_state(), "vcpu", "mp_state").mp_state;
  }
  stop = true;
  kicker.join();
  EXPECT_EQ(mp, uint32_t(KVM_MP_STATE_HALTED)) << "after " << rounds << " kicks";
}

// KVM's emulator batches REP INS into one exit of up to a page (count > 1),
// but emulates REP OUTS one element per exit (x86 emulator em_out passes
// count 1), so the OUTS test accepts either shape and checks the bytes.
TEST(Kvm, RepInsbIsOneExitWithCount) {
  Guest g;
  load(g.bytes(), 0x1000, kRepInsb);
  auto& v = g.boot(real_mode_state(0x1000));
  auto in = expect_exit<hv::IoIn>(v);
  EXPECT_EQ(in.port, 0x10);
  EXPECT_EQ(in.size, 1);
  EXPECT_EQ(in.count, 4u);
  ASSERT_EQ(in.data.size(), 4u);
  const char text[] = "wxyz";
  std::copy(text, text + 4, in.data.begin());
  auto out = expect_exit<hv::IoOut>(v);  // KVM finished the INS first
  EXPECT_EQ(out.port, 0x11);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(g.mem.data()) + 0x2000, 4), "wxyz");
}

TEST(Kvm, RepOutsbDeliversEveryByte) {
  Guest g;
  load(g.bytes(), 0x1000, kRepOutsb);
  const uint8_t text[] = {'a', 'b', 'c', 'd'};
  load(g.bytes(), 0x2000, text);
  auto& v = g.boot(real_mode_state(0x1000));
  std::string got;
  int exits = 0;
  while (got.size() < 4 && exits < 4) {
    auto out = expect_exit<hv::IoOut>(v);
    ++exits;
    ASSERT_EQ(out.port, 0x10);
    ASSERT_EQ(out.size, 1);
    ASSERT_GE(out.count, 1u);
    got.append(out.data.begin(), out.data.end());
  }
  EXPECT_EQ(got, "abcd");
  std::printf("rep outsb of 4 bytes took %d exit(s)\n", exits);
}

TEST(Kvm, LongModeMmioAndIoeventfd) {
  Guest g;
  auto boot = setup_long_mode(g.bytes(), kCodeAddr);
  load(g.bytes(), kCodeAddr, kMmioGuest);
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  // Writes of 7 to 0xd0001000 signal the eventfd without an exit; 8 exits.
  EXPECT_TRUE(g.vm->add_ioeventfd(0xd0001000, 4, 7, efd));
  auto& v = g.boot(boot);

  auto rd = expect_exit<hv::MmioRead>(v);
  EXPECT_EQ(rd.addr, 0xd0000000u);
  ASSERT_EQ(rd.data.size(), 4u);
  const uint8_t value[] = {0x44, 0x33, 0x22, 0x11};
  std::copy(std::begin(value), std::end(value), rd.data.begin());

  auto wr = expect_exit<hv::MmioWrite>(v);
  EXPECT_EQ(wr.addr, 0xd0000008u);
  EXPECT_EQ(std::vector<uint8_t>(wr.data.begin(), wr.data.end()), std::vector<uint8_t>(value, value + 4));

  auto wr8 = expect_exit<hv::MmioWrite>(v);
  EXPECT_EQ(wr8.addr, 0xd0001000u);
  ASSERT_EQ(wr8.data.size(), 4u);
  EXPECT_EQ(wr8.data[0], 8);
  uint64_t count = 0;
  EXPECT_EQ(::read(efd, &count, sizeof(count)), 8);
  EXPECT_EQ(count, 1u);

  auto out = expect_exit<hv::IoOut>(v);
  EXPECT_EQ(out.port, 0x10);
  EXPECT_EQ(out.data[0], 0x44);
  ::close(efd);
}

TEST(Kvm, IrqLinesRegister) {
  Guest g;
  auto line = g.vm->irq_line(layout::kCom1Irq);
  line->set_level(true);
  line->set_level(false);
  line->trigger();
  auto fd_line = g.vm->irqfd_line(layout::kVirtioFirstIrq);
  fd_line->trigger();
  auto* irqfd = dynamic_cast<IrqfdLine*>(fd_line.get());
  ASSERT_NE(irqfd, nullptr);
  EXPECT_GE(irqfd->eventfd(), 0);
  auto second = g.vm->irqfd_line(layout::kVirtioFirstIrq + 1);
  second->trigger();
  fd_line.reset();  // deassign
  auto again = g.vm->irqfd_line(layout::kVirtioFirstIrq);
  again->trigger();
  int efd = ::eventfd(0, EFD_CLOEXEC);
  EXPECT_TRUE(g.vm->add_ioeventfd(0xd0002000, 4, std::nullopt, efd));
  ::close(efd);
}

// A save reads the irqchip right after the interrupt of the last virtio
// request it waited for (src/vmm/machine_snapshot.cpp). KVM injects an
// irqfd's edge for a PIC/IOAPIC route from a work item, after trigger() has
// returned; IrqfdLine::settle must wait for it (issue 11).
TEST(Kvm, IrqfdSettleWaitsForTheInjection) {
  Guest g;
  // The work item is queued on this CPU (schedule_work from irqfd_wakeup,
  // which runs in trigger()'s write). Pinned here as SCHED_FIFO, this thread
  // keeps the kworker off the CPU until it sleeps, so without the wait in
  // settle() the read below would come first every time, not only when the
  // scheduler happens to let it. Needs root (CAP_SYS_NICE); without it the
  // check still runs, with the race left to chance.
  struct Realtime {
    cpu_set_t old_set{};
    bool pinned = false, fifo = false;
    Realtime() {
      pinned = sched_getaffinity(0, sizeof old_set, &old_set) == 0;
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(sched_getcpu(), &one);
      pinned = pinned && sched_setaffinity(0, sizeof one, &one) == 0;
      sched_param p{};
      p.sched_priority = 1;
      fifo = pinned && sched_setscheduler(0, SCHED_FIFO, &p) == 0;
    }
    ~Realtime() {
      sched_param p{};
      if (fifo) sched_setscheduler(0, SCHED_OTHER, &p);
      if (pinned) sched_setaffinity(0, sizeof old_set, &old_set);
    }
  } rt;
  if (!rt.fifo) std::printf("irqfd: not SCHED_FIFO (%s): the race is left to the scheduler\n", std::strerror(errno));
  auto line = g.vm->irqfd_line(layout::kVirtioFirstIrq);
  const unsigned bit = 1u << layout::kVirtioFirstIrq;
  auto pic_irr = [&] { return get_struct<kvm_irqchip>(g.vm->save_state(), "vm", "pic_master").chip.pic.irr; };
  StateNode clean = g.vm->save_state();
  ASSERT_FALSE(get_struct<kvm_irqchip>(clean, "vm", "pic_master").chip.pic.irr & bit);
  // How often a read right after trigger() misses the edge (informational).
  int missed = 0;
  for (int i = 0; i < 200; ++i) {
    g.vm->restore_state(clean);
    line->trigger();
    if (!(pic_irr() & bit)) ++missed;
  }
  line->settle();
  for (int i = 0; i < 200; ++i) {
    g.vm->restore_state(clean);
    line->trigger();
    line->settle();
    ASSERT_TRUE(pic_irr() & bit) << "round " << i << ": the edge had not reached the PIC after settle()";
  }
  std::printf("irqfd: a read right after trigger() missed the edge %d times in 200\n", missed);
  RecordProperty("missed_without_settle", missed);
}

TEST(Kvm, ApWaitsForSipiAndHasItsApicId) {
  Guest g;
  auto bsp = g.vm->create_vcpu(0, 2);
  auto ap = g.vm->create_vcpu(1, 2);
  EXPECT_THROW(ap->set_boot_state(real_mode_state(0x1000)), Error);
  auto n = ap->save_state();
  EXPECT_EQ(get_struct<kvm_mp_state>(n, "vcpu", "mp_state").mp_state, uint32_t(KVM_MP_STATE_UNINITIALIZED));
  auto& kap = static_cast<KvmVcpu&>(*ap);
  auto* leaf1 = find_cpuid(kap.cpuid(), 1);
  ASSERT_NE(leaf1, nullptr);
  EXPECT_EQ(leaf1->ebx >> 24, 1u);
  EXPECT_TRUE(leaf1->ecx & kCpuidEcxHypervisor);
  EXPECT_NE(find_cpuid(kap.cpuid(), kCpuidLeafKvmSignature), nullptr);
  auto lapic = get_struct<kvm_lapic_state>(n, "vcpu", "lapic");
  uint32_t lint0, lint1, id;
  std::memcpy(&lint0, lapic.regs + 0x350, 4);
  std::memcpy(&lint1, lapic.regs + 0x360, 4);
  std::memcpy(&id, lapic.regs + 0x20, 4);
  EXPECT_EQ((lint0 >> 8) & 7, 7u);  // ExtINT
  EXPECT_EQ((lint1 >> 8) & 7, 4u);  // NMI
  EXPECT_EQ(id >> 24, 1u);
}

}  // namespace
}  // namespace amber::kvm
