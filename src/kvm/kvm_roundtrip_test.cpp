// Issue 11, "Resume must be exact": round-trip properties of KVM save and
// restore, each with a real guest stopped in a situation where state is easy
// to lose. For every case:
//   1. save -> restore into a FRESH VM -> save again gives the same VM and
//      vCPU nodes, property by property (`round_trip`; what may
//      differ because it is time, and only that, is excluded by name);
//   2. the restored guest then does exactly what an uninterrupted run does
//      (its port and MMIO traffic, registers and memory after the restore).
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "amber/mapping.h"
#include "kvm/kvm_abi.h"
#include "kvm/kvm_hypervisor.h"
#include "kvm/state_diff_test_support.h"
#include "kvm/state_props.h"
#include "kvm/test_guest.h"

namespace amber::kvm {
namespace {

using namespace amber::kvm::test;

struct Machine {
  std::unique_ptr<hv::Vm> vm;
  Mapping mem = Mapping::anonymous(kGuestMemSize);
  std::vector<std::unique_ptr<hv::Vcpu>> vcpus;
  Machine(hv::Hypervisor& h, uint32_t n) : vm(h.create_vm()) {
    vm->add_memory({0, 0, mem.size(), mem.data()});
    for (uint32_t i = 0; i < n; ++i) vcpus.push_back(vm->create_vcpu(i, n));
  }
  std::span<uint8_t> bytes() { return {mem.data(), mem.size()}; }
  hv::Vcpu& cpu(size_t i = 0) { return *vcpus.at(i); }
};

struct Saved {
  StateNode vm;
  std::vector<StateNode> vcpus;
  std::vector<uint8_t> mem;
};

Saved save(Machine& m) {
  Saved s;
  for (auto& v : m.vcpus) s.vcpus.push_back(v->save_state());
  s.vm = m.vm->save_state();
  s.mem.assign(m.mem.data(), m.mem.data() + m.mem.size());
  return s;
}

std::unique_ptr<Machine> resume(hv::Hypervisor& h, const Saved& s) {
  auto m = std::make_unique<Machine>(h, static_cast<uint32_t>(s.vcpus.size()));
  std::memcpy(m->mem.data(), s.mem.data(), s.mem.size());
  m->vm->restore_state(s.vm);  // VM first, then its vCPUs (docs/vcpu-state.md)
  for (size_t i = 0; i < s.vcpus.size(); ++i) m->vcpus[i]->restore_state(s.vcpus[i]);
  return m;
}

// The round trip: restores `s` into a fresh VM, saves that without running
// it, and expects the same state. Returns the restored machine, not yet run.
std::unique_ptr<Machine> round_trip(hv::Hypervisor& h, const Saved& s) {
  auto r = resume(h, s);
  Saved again = save(*r);
  EXPECT_EQ(state_diff("vm", s.vm, again.vm), std::vector<std::string>{}) << "VM node";
  for (size_t i = 0; i < s.vcpus.size(); ++i)
    EXPECT_EQ(state_diff("vcpu", s.vcpus[i], again.vcpus[i]), std::vector<std::string>{}) << "vCPU " << i;
  EXPECT_TRUE(again.mem == s.mem) << "guest memory changed in the round trip";
  return r;
}

// Exits as values that outlive the next run().
struct Io {
  enum Kind { kOut, kIn, kMmioWrite, kMmioRead } kind;
  uint64_t where;  // port or address
  std::vector<uint8_t> data;
  bool operator==(const Io&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Io& io) {
  static const char* names[] = {"out", "in", "mmio-write", "mmio-read"};
  o << names[io.kind] << " " << std::hex << io.where << " [";
  for (auto b : io.data) o << " " << unsigned(b);
  return o << " ]" << std::dec;
}
Io out(uint16_t port, std::vector<uint8_t> data) { return {Io::kOut, port, std::move(data)}; }

uint32_t mp_state_of(const StateNode& n) { return get_struct<kvm_mp_state>(n, "vcpu", "mp_state").mp_state; }
uint32_t mp_state_of(hv::Vcpu& v) { return mp_state_of(v.save_state()); }
kvm_regs regs_of(const StateNode& n) { return get_struct<kvm_regs>(n, "vcpu", "regs"); }
bool apic_bit(const StateNode& n, size_t base, uint8_t vector) {
  auto lapic = get_struct<kvm_lapic_state>(n, "vcpu", "lapic");
  uint32_t word;
  std::memcpy(&word, lapic.regs + base + 0x10 * (vector / 32), 4);
  return word & (1u << (vector % 32));
}
constexpr size_t kApicPpr = 0xa0, kApicIsr = 0x100, kApicIrr = 0x200;
bool any_apic_bit(const StateNode& n, size_t base) {
  for (int v = 16; v < 256; ++v)
    if (apic_bit(n, base, uint8_t(v))) return true;
  return false;
}

// A vCPU asleep inside KVM_RUN (HLT with the in-kernel LAPIC, wait-for-SIPI)
// does not return by itself: a thread kicks it out every 5 ms
// (immediate_exit + a signal without SA_RESTART, as the VMM's pause does).
// Timing decides only how many kicks a step takes, never what it asserts.
class Kicker {
 public:
  explicit Kicker(hv::Vcpu& v) : v_(v) {
    static pthread_t self;
    self = pthread_self();
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        v_.set_immediate_exit(true);
        pthread_kill(self, SIGUSR1);
      }
    });
  }
  ~Kicker() {
    stop_ = true;
    thread_.join();
    v_.set_immediate_exit(false);
  }
  // One kicked run; the exit it returned.
  hv::VcpuExit run() {
    auto ex = v_.run();
    v_.set_immediate_exit(false);
    return ex;
  }

 private:
  hv::Vcpu& v_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs `v`, kicked, until its mp_state is `want`; every exit meanwhile must
// be Interrupted (the guest does nothing visible).
void run_until_mp_state(hv::Vcpu& v, uint32_t want) {
  Kicker k(v);
  uint32_t mp = mp_state_of(v);
  for (int i = 0; i < 2000 && mp != want; ++i) {
    auto ex = k.run();
    ASSERT_TRUE(std::holds_alternative<hv::Interrupted>(ex)) << "exit variant " << ex.index() << " while waiting";
    mp = mp_state_of(v);
  }
  ASSERT_EQ(mp, want);
}

// Runs `v` to its next real exit, kicked (Kicker), so that a guest which
// sleeps or spins instead of exiting, as a broken restore can make it, fails
// the test in seconds instead of hanging it; Interrupted exits (kicks, and
// the EAGAIN of an AP taking its SIPI) are skipped. Answers an IN or MMIO
// read with `answer` (zero-padded) and records it.
Io next_io(hv::Vcpu& v, std::vector<uint8_t> answer = {}, int kicks = 1000) {
  Kicker k(v);
  for (int i = 0; i < kicks; ++i) {
    auto ex = k.run();
    if (std::holds_alternative<hv::Interrupted>(ex)) continue;
    auto fill = [&](std::span<uint8_t> d) {
      answer.resize(d.size());
      std::copy(answer.begin(), answer.end(), d.begin());
      return answer;
    };
    if (auto* e = std::get_if<hv::IoOut>(&ex)) return {Io::kOut, e->port, {e->data.begin(), e->data.end()}};
    if (auto* e = std::get_if<hv::IoIn>(&ex)) return {Io::kIn, e->port, fill(e->data)};
    if (auto* e = std::get_if<hv::MmioWrite>(&ex)) return {Io::kMmioWrite, e->addr, {e->data.begin(), e->data.end()}};
    if (auto* e = std::get_if<hv::MmioRead>(&ex)) return {Io::kMmioRead, e->addr, fill(e->data)};
    if (auto* e = std::get_if<hv::InternalError>(&ex))
      ADD_FAILURE() << "internal error: " << e->what;
    else
      ADD_FAILURE() << "unexpected exit, variant index " << ex.index();
    return {Io::kOut, 0xdead, {}};
  }
  ADD_FAILURE() << "no exit after " << kicks << " kicks (5 ms apart), mp_state " << mp_state_of(v);
  return {Io::kOut, 0xdead, {}};
}

// Runs `v`, kicked, for `kicks` runs: it must stay asleep in `mp`, with no exit.
void expect_stays_asleep(hv::Vcpu& v, uint32_t mp, int kicks) {
  Kicker k(v);
  for (int i = 0; i < kicks; ++i) {
    auto ex = k.run();
    ASSERT_TRUE(std::holds_alternative<hv::Interrupted>(ex)) << "kick " << i << ": exit variant " << ex.index();
  }
  EXPECT_EQ(mp_state_of(v), mp);
}

std::unique_ptr<Machine> long_mode_guest(hv::Hypervisor& h, std::span<const uint8_t> code, uint8_t vector,
                                         uint64_t handler_offset) {
  auto m = std::make_unique<Machine>(h, 1);
  auto boot = setup_long_mode(m->bytes(), kCodeAddr);
  load(m->bytes(), kCodeAddr, code);
  set_idt_gate(m->bytes(), vector, kCodeAddr + handler_offset);
  boot.idt_base = kIdtAddr;
  boot.idt_limit = 0xfff;
  m->cpu().set_boot_state(boot);
  return m;
}

// 1. HLT: saved while asleep in HLT (mp_state HALTED) with IF=1; the clone
// stays asleep until an interrupt (GSI 16 through the IOAPIC the guest
// programmed), then runs the handler and continues after the HLT.
TEST(KvmRoundTrip, HaltedVcpuSleepsUntilItsInterrupt) {
  KvmHypervisor h;
  auto m = long_mode_guest(h, kHaltGuest, 0x30, kHaltGuestHandler);
  ASSERT_EQ(next_io(m->cpu()), out(0x10, {1}));
  run_until_mp_state(m->cpu(), KVM_MP_STATE_HALTED);
  if (HasFatalFailure()) return;
  Saved s = save(*m);
  EXPECT_EQ(mp_state_of(s.vcpus[0]), uint32_t(KVM_MP_STATE_HALTED));
  EXPECT_EQ(regs_of(s.vcpus[0]).rip, kCodeAddr + 0x34) << "RIP is after the HLT";
  EXPECT_TRUE(regs_of(s.vcpus[0]).rflags & 0x200) << "IF";

  // What an uninterrupted run does: the original, woken.
  const std::vector<Io> want = {out(0x11, {2}), out(0x12, {3})};
  m->vm->irq_line(kGuestIrqGsi)->trigger();
  EXPECT_EQ((std::vector<Io>{next_io(m->cpu()), next_io(m->cpu())}), want) << "original";
  m.reset();

  auto r = round_trip(h, s);
  expect_stays_asleep(r->cpu(), KVM_MP_STATE_HALTED, 20);
  if (HasFatalFailure()) return;
  r->vm->irq_line(kGuestIrqGsi)->trigger();
  EXPECT_EQ((std::vector<Io>{next_io(r->cpu()), next_io(r->cpu())}), want) << "restored";
  Saved after = save(*r);
  EXPECT_FALSE(any_apic_bit(after.vcpus[0], kApicIrr)) << "an interrupt is still pending";
  EXPECT_FALSE(any_apic_bit(after.vcpus[0], kApicIsr)) << "an interrupt is still in service";
}

// 1b. The LAPIC timer: a one-shot timer armed at the save fires in the
// clone, once. The clone is saved again inside the timer's handler (vector
// 0x32 in service: the PPR must come back as 0x30) and that round trip must
// be identical too.
// Not asserted: what the second clone does next. KVM restarts an expired
// one-shot timer from its current count, 0, so it ticks again at once
// (kvm_apic_set_state -> set_target_expiration; docs/vcpu-state.md "Known
// inexactness").
TEST(KvmRoundTrip, LapicTimerArmedAtTheSaveFiresOnce) {
  // 1.5 s at KVM's 1 GHz APIC bus: ample for the save right after the guest
  // armed it, even in a loaded QEMU-TCG sandbox.
  constexpr uint32_t kCount = 1'500'000'000;
  KvmHypervisor h;
  auto m = std::make_unique<Machine>(h, 1);
  auto boot = setup_long_mode(m->bytes(), kCodeAddr);
  load(m->bytes(), kCodeAddr, kTimerGuest);
  std::memcpy(m->mem.data() + kCounterAddr, &kCount, 4);
  set_idt_gate(m->bytes(), 0x32, kCodeAddr + kTimerGuestHandler);
  boot.idt_base = kIdtAddr;
  boot.idt_limit = 0xfff;
  m->cpu().set_boot_state(boot);
  ASSERT_EQ(next_io(m->cpu()), out(0x10, {1}));
  Saved s = save(*m);
  auto reg = [](const StateNode& n, size_t off) {
    auto lapic = get_struct<kvm_lapic_state>(n, "vcpu", "lapic");
    uint32_t v;
    std::memcpy(&v, lapic.regs + off, 4);
    return v;
  };
  ASSERT_GT(reg(s.vcpus[0], kApicTmcct), 0u) << "the timer had already run out at the save";

  // Uninterrupted: one tick, then asleep.
  EXPECT_EQ(next_io(m->cpu()), out(0x11, {2})) << "original";
  run_until_mp_state(m->cpu(), KVM_MP_STATE_HALTED);
  expect_stays_asleep(m->cpu(), KVM_MP_STATE_HALTED, 40);
  m.reset();

  auto r = round_trip(h, s);
  EXPECT_EQ(next_io(r->cpu()), out(0x11, {2})) << "restored";
  Saved s2 = save(*r);
  EXPECT_EQ(reg(s2.vcpus[0], kApicTmcct), 0u);
  EXPECT_TRUE(apic_bit(s2.vcpus[0], kApicIsr, 0x32));
  EXPECT_EQ(reg(s2.vcpus[0], kApicPpr), 0x30u);
  r.reset();
  round_trip(h, s2);
}

// 2. An interrupt pending at the save: GSI 16 raised while the guest runs with
// IF=0, so vector 0x31 waits in the LAPIC's IRR; the save is taken right
// after the guest's IN exit. The clone gets the IN's value, and on STI takes
// exactly that interrupt, once, after the STI shadow.
TEST(KvmRoundTrip, InterruptPendingAtTheSaveIsTakenOnceAfterSti) {
  KvmHypervisor h;
  auto m = long_mode_guest(h, kPendingIrqGuest, 0x31, kPendingIrqGuestHandler);
  ASSERT_EQ(next_io(m->cpu()), out(0x10, {1}));
  m->vm->irq_line(kGuestIrqGsi)->trigger();
  ASSERT_EQ(next_io(m->cpu(), {0x5a}), (Io{Io::kIn, 0x11, {0x5a}}));
  // No Interrupted run in between: save_state must complete the IN.
  Saved s = save(*m);
  EXPECT_TRUE(apic_bit(s.vcpus[0], kApicIrr, 0x31)) << "vector 0x31 is not pending in the saved LAPIC";
  EXPECT_FALSE(regs_of(s.vcpus[0]).rflags & 0x200) << "IF";
  EXPECT_EQ(regs_of(s.vcpus[0]).rax & 0xff, 0x5au) << "the IN completed before the save";
  EXPECT_EQ(regs_of(s.vcpus[0]).rip, kCodeAddr + 0x35) << "RIP is at the STI";

  const std::vector<Io> want = {out(0x13, {0x31}), out(0x12, {0x5a})};
  EXPECT_EQ((std::vector<Io>{next_io(m->cpu()), next_io(m->cpu())}), want) << "original";
  m.reset();

  auto r = round_trip(h, s);
  EXPECT_EQ((std::vector<Io>{next_io(r->cpu()), next_io(r->cpu())}), want) << "restored";
  Saved after = save(*r);
  EXPECT_FALSE(any_apic_bit(after.vcpus[0], kApicIrr)) << "an interrupt is still pending";
  EXPECT_FALSE(any_apic_bit(after.vcpus[0], kApicIsr)) << "an interrupt is still in service";
  EXPECT_EQ(regs_of(after.vcpus[0]).rip, kCodeAddr + 0x39) << "at the final spin";
}

// 3. MMIO: saved right after an MMIO read exit (answered 0x11223344) and, in
// the clone, right after the next MMIO write exit. The read's value must
// reach the guest (KVM completes the instruction on the next KVM_RUN, which
// save_state does), and the write must not be repeated.
TEST(KvmRoundTrip, SaveAfterMmioReadAndWriteExits) {
  KvmHypervisor h;
  auto m = std::make_unique<Machine>(h, 1);
  auto boot = setup_long_mode(m->bytes(), kCodeAddr);
  load(m->bytes(), kCodeAddr, kMmioGuest);
  m->cpu().set_boot_state(boot);
  const std::vector<uint8_t> value = {0x44, 0x33, 0x22, 0x11};
  ASSERT_EQ(next_io(m->cpu(), value), (Io{Io::kMmioRead, 0xd0000000, value}));
  Saved s = save(*m);
  EXPECT_EQ(regs_of(s.vcpus[0]).rax, 0x11223344u) << "the MMIO read completed before the save";
  EXPECT_EQ(regs_of(s.vcpus[0]).rip, kCodeAddr + 12) << "RIP is past the read";

  const std::vector<Io> want = {{Io::kMmioWrite, 0xd0000008, value},
                                {Io::kMmioWrite, 0xd0001000, {7, 0, 0, 0}},
                                {Io::kMmioWrite, 0xd0001000, {8, 0, 0, 0}},
                                out(0x10, {0x44})};
  std::vector<Io> got;
  for (size_t i = 0; i < want.size(); ++i) got.push_back(next_io(m->cpu()));
  EXPECT_EQ(got, want) << "original";
  m.reset();

  auto r = round_trip(h, s);
  got = {next_io(r->cpu())};
  // A second generation, saved right after the write exit.
  Saved s2 = save(*r);
  EXPECT_EQ(regs_of(s2.vcpus[0]).rip, kCodeAddr + 15) << "RIP is past the write";
  r.reset();
  auto r2 = round_trip(h, s2);
  for (size_t i = 1; i < want.size(); ++i) got.push_back(next_io(r2->cpu()));
  EXPECT_EQ(got, want) << "restored";
}

// 4a. rep insb across a page boundary: KVM's emulator reads ahead at most to
// the end of the page (pio_in_emulated), so 6 bytes at 0x2ffe are an exit of
// 2 and one of 4. Saved after the first: the clone asks for the other 4, and
// rcx, rdi and the buffer end as in an uninterrupted run.
TEST(KvmRoundTrip, SaveInsideRepInsb) {
  KvmHypervisor h;
  auto m = std::make_unique<Machine>(h, 1);
  load(m->bytes(), 0x1000, kRepInsbAcrossPage);
  m->cpu().set_boot_state(real_mode_state(0x1000));
  Io first = next_io(m->cpu(), {'a', 'b'});
  ASSERT_EQ(first.kind, Io::kIn);
  ASSERT_EQ(first.data.size(), 2u) << "KVM did not split the rep insb at the page boundary: nothing to save mid-way";
  Saved s = save(*m);
  auto regs = regs_of(s.vcpus[0]);
  EXPECT_EQ(regs.rip, 0x1000 + kRepInsbAcrossPageRep) << "RIP is still at the rep insb";
  EXPECT_EQ(regs.rcx & 0xffff, 4u);
  EXPECT_EQ(regs.rdi & 0xffff, 0x3000u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(s.mem.data()) + 0x2ffe, 2), "ab");

  auto finish = [&](hv::Vcpu& v, Machine& mm, const char* who) {
    EXPECT_EQ(next_io(v, {'c', 'd', 'e', 'f'}), (Io{Io::kIn, 0x10, {'c', 'd', 'e', 'f'}})) << who;
    EXPECT_EQ(next_io(v), out(0x11, {0})) << who;  // al, which INS leaves alone
    auto after = regs_of(v.save_state());
    EXPECT_EQ(after.rcx & 0xffff, 0u) << who;
    EXPECT_EQ(after.rdi & 0xffff, 0x3004u) << who;
    EXPECT_EQ(std::string(reinterpret_cast<char*>(mm.mem.data()) + 0x2ffe, 6), "abcdef") << who;
  };
  finish(m->cpu(), *m, "original");
  m.reset();
  auto r = round_trip(h, s);
  finish(r->cpu(), *r, "restored");
}

// 4b. rep outsb: KVM's emulator sends one element per exit (em_out). Saved
// after the first byte: the clone sends the other three, once each.
TEST(KvmRoundTrip, SaveInsideRepOutsb) {
  KvmHypervisor h;
  auto m = std::make_unique<Machine>(h, 1);
  load(m->bytes(), 0x1000, kRepOutsb);
  const uint8_t text[] = {'a', 'b', 'c', 'd'};
  load(m->bytes(), 0x2000, text);
  m->cpu().set_boot_state(real_mode_state(0x1000));
  Io first = next_io(m->cpu());
  ASSERT_EQ(first.kind, Io::kOut);
  ASSERT_EQ(first.data, std::vector<uint8_t>{'a'}) << "KVM sent more than one byte per exit: nothing to save mid-way";
  Saved s = save(*m);
  auto regs = regs_of(s.vcpus[0]);
  EXPECT_EQ(regs.rcx & 0xffff, 3u);
  EXPECT_EQ(regs.rsi & 0xffff, 0x2001u);

  auto finish = [&](hv::Vcpu& v, const char* who) {
    std::string rest;
    for (int i = 0; i < 3 && rest.size() < 3; ++i) {
      Io io = next_io(v);
      EXPECT_EQ(io.where, 0x10u) << who;
      rest.append(io.data.begin(), io.data.end());
    }
    EXPECT_EQ(rest, "bcd") << who;
    auto after = regs_of(v.save_state());
    EXPECT_EQ(after.rcx & 0xffff, 0u) << who;
    EXPECT_EQ(after.rsi & 0xffff, 0x2004u) << who;
  };
  finish(m->cpu(), "original");
  m.reset();
  auto r = round_trip(h, s);
  finish(r->cpu(), "restored");
}

// 5. An AP waiting for SIPI. A 2-vCPU VM saved (a) before the BSP sends
// anything (AP mp_state UNINITIALIZED) and (b) after its INIT (INIT_RECEIVED).
// Each round trip keeps the AP waiting (it runs nothing, however often it
// is entered), and after the second one the BSP's SIPI starts it at the
// vector's address.
TEST(KvmRoundTrip, ApWaitingForSipiStaysWaitingAndStartsOnSipi) {
  KvmHypervisor h;
  auto m = std::make_unique<Machine>(h, 2);
  auto boot = setup_long_mode(m->bytes(), kCodeAddr);
  load(m->bytes(), kCodeAddr, kSipiBsp);
  load(m->bytes(), kApTrampolineAddr, kApOutCs);
  m->cpu(0).set_boot_state(boot);
  ASSERT_EQ(next_io(m->cpu(0)), out(0x10, {1}));
  Saved s = save(*m);
  EXPECT_EQ(mp_state_of(s.vcpus[1]), uint32_t(KVM_MP_STATE_UNINITIALIZED));

  // What an uninterrupted run does: the original goes on.
  const Io ap_out = out(0x14, {0x00, 0x04});  // CS 0x400: SIPI vector 4
  ASSERT_EQ(next_io(m->cpu(0)), out(0x11, {2}));
  EXPECT_EQ(mp_state_of(m->cpu(1)), uint32_t(KVM_MP_STATE_INIT_RECEIVED)) << "original";
  ASSERT_EQ(next_io(m->cpu(0)), out(0x12, {3}));
  EXPECT_EQ(next_io(m->cpu(1)), ap_out) << "original";
  m.reset();

  auto r = round_trip(h, s);
  expect_stays_asleep(r->cpu(1), KVM_MP_STATE_UNINITIALIZED, 10);
  if (HasFatalFailure()) return;
  ASSERT_EQ(next_io(r->cpu(0)), out(0x11, {2}));  // INIT sent
  Saved s2 = save(*r);
  EXPECT_EQ(mp_state_of(s2.vcpus[1]), uint32_t(KVM_MP_STATE_INIT_RECEIVED));
  r.reset();

  auto r2 = round_trip(h, s2);
  expect_stays_asleep(r2->cpu(1), KVM_MP_STATE_INIT_RECEIVED, 10);
  if (HasFatalFailure()) return;
  ASSERT_EQ(next_io(r2->cpu(0)), out(0x12, {3}));  // SIPI, SIPI sent
  EXPECT_EQ(next_io(r2->cpu(1)), ap_out) << "restored";
  EXPECT_EQ(mp_state_of(r2->cpu(1)), uint32_t(KVM_MP_STATE_RUNNABLE));
}

}  // namespace
}  // namespace amber::kvm
