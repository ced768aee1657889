#include "kvm/state_props.h"

#include <linux/kvm.h>

#include <gtest/gtest.h>

#include "kvm/kvm_abi.h"
#include "kvm/msrs.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm_state.h"

namespace amber::kvm {
namespace {

auto nmsrs = [](const MsrsHeader& h) { return h.nmsrs; };

std::vector<uint8_t> msr_prop(uint32_t header_count, size_t entries) {
  MsrBuf b(entries);
  b.get()->nmsrs = header_count;
  for (size_t i = 0; i < entries; ++i) b.entries()[i] = kvm_msr_entry{uint32_t(0x10 + i), 0, i};
  return b.to_bytes();
}

TEST(StateProps, StructRoundTrip) {
  StateNode n;
  kvm_regs r{};
  r.rip = 0x1234;
  put_struct(n, "regs", r);
  EXPECT_EQ(n.props.at("regs").size(), sizeof(kvm_regs));
  EXPECT_EQ(get_struct<kvm_regs>(n, "vcpu", "regs").rip, 0x1234u);
}

TEST(StateProps, WrongSizeOrMissingNamesTheProperty) {
  StateNode n;
  n.props["sregs"] = std::vector<uint8_t>(sizeof(kvm_sregs) - 1);
  EXPECT_THROW(
      {
        try {
          get_struct<kvm_sregs>(n, "vcpu", "sregs");
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("'sregs'"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  EXPECT_THROW(get_struct<kvm_regs>(n, "vcpu", "regs"), Error);
}

TEST(StateProps, FlexCountMustMatchSize) {
  auto flex = [](const StateNode& n) { return get_flex<MsrsHeader, kvm_msr_entry>(n, "vcpu", "msrs", 16, nmsrs); };
  StateNode n;
  n.props["msrs"] = msr_prop(3, 3);
  auto b = get_flex<MsrsHeader, kvm_msr_entry>(n, "vcpu", "msrs", 16, nmsrs);
  EXPECT_EQ(b.capacity(), 3u);
  EXPECT_EQ(b.entries()[2].index, 0x12u);
  EXPECT_EQ(b.entries()[2].data, 2u);

  n.props["msrs"] = msr_prop(1000000, 3);  // header lies: would read past the property
  EXPECT_THROW(flex(n), Error);
  n.props["msrs"] = msr_prop(2, 3);
  EXPECT_THROW(flex(n), Error);
  n.props["msrs"] = msr_prop(17, 17);  // above the cap
  EXPECT_THROW(flex(n), Error);
  auto bytes = msr_prop(3, 3);
  bytes.pop_back();  // partial entry
  n.props["msrs"] = bytes;
  EXPECT_THROW(flex(n), Error);
  n.props["msrs"] = {1, 2};  // shorter than the header
  EXPECT_THROW(flex(n), Error);
}

TEST(Msrs, FilterDropsUnreadableInBulk) {
  std::vector<uint32_t> cand = {1, 2, 3, 4, 5, 6};
  int calls = 0;
  auto got = filter_readable(cand, [&](std::span<kvm_msr_entry> e) -> size_t {
    ++calls;
    for (size_t i = 0; i < e.size(); ++i)
      if (e[i].index == 2 || e[i].index == 5) return i;
    return e.size();
  });
  EXPECT_EQ(got, (std::vector<uint32_t>{1, 3, 4, 6}));
  EXPECT_EQ(calls, 3);
}

TEST(Msrs, CandidatesIncludeMustSaveOnce) {
  std::vector<uint32_t> list = {kMsrIa32Tsc, 0x174};
  auto c = candidate_msrs(list);
  EXPECT_EQ(c[0], kMsrIa32Tsc);
  EXPECT_EQ(c[1], 0x174u);
  EXPECT_EQ(std::count(c.begin(), c.end(), kMsrIa32Tsc), 1);
  EXPECT_NE(std::find(c.begin(), c.end(), kMsrKvmSystemTimeNew), c.end());
  EXPECT_NE(std::find(c.begin(), c.end(), kMsrIa32TscDeadline), c.end());
}

TEST(Msrs, MustSaveHasTheMtrrsAndPat) {
  auto l = must_save_msrs();
  auto has = [&](uint32_t i) { return std::find(l.begin(), l.end(), i) != l.end(); };
  for (uint32_t i = 0x200; i <= 0x20f; ++i) EXPECT_TRUE(has(i)) << std::hex << i;
  for (uint32_t i : {0x250u, 0x258u, 0x259u, 0x277u, 0x2ffu}) EXPECT_TRUE(has(i)) << std::hex << i;
  for (uint32_t i = 0x268; i <= 0x26f; ++i) EXPECT_TRUE(has(i)) << std::hex << i;
}

TEST(Msrs, AdvanceTscAddsTheElapsedTicksToIa32TscOnly) {
  std::vector<kvm_msr_entry> m(3);
  m[0] = {kMsrIa32TscDeadline, 0, 500};
  m[1] = {kMsrIa32Tsc, 0, 1000};
  m[2] = {0x174, 0, 7};
  advance_tsc(m, 2'000'000'000ull, 3'000'000);  // 2 s at 3 GHz
  EXPECT_EQ(m[1].data, 1000u + 6'000'000'000ull);
  EXPECT_EQ(m[0].data, 500u);
  EXPECT_EQ(m[2].data, 7u);
  advance_tsc(m, ~0ull, 4'000'000);  // 584 years: saturates, no wrap to a small TSC
  EXPECT_EQ(m[1].data, ~0ull);
}

TEST(Msrs, RestoreOrderPutsTscFirstAndTscDeadlineLast) {
  std::vector<kvm_msr_entry> m(5);
  uint32_t idx[] = {0x174, kMsrIa32TscDeadline, 0x200, kMsrIa32Tsc, 0x175};
  for (size_t i = 0; i < m.size(); ++i) m[i].index = idx[i];
  order_for_restore(m);
  std::vector<uint32_t> got;
  for (auto& e : m) got.push_back(e.index);
  EXPECT_EQ(got, (std::vector<uint32_t>{kMsrIa32Tsc, 0x174, 0x200, 0x175, kMsrIa32TscDeadline}));
}

// Restore validates the whole node before the first ioctl: with fd -1 an
// ioctl would fail with EBADF, so an amber::Error (not SysError) proves the
// bad property was caught first.
StateNode valid_vcpu_node() {
  StateNode n;
  FlexBuf<CpuidHeader, kvm_cpuid_entry2> cpuid(2);
  cpuid.get()->nent = 2;
  n.props["cpuid"] = cpuid.to_bytes();
  put_struct(n, "mp_state", kvm_mp_state{});
  put_struct(n, "regs", kvm_regs{});
  put_struct(n, "sregs", kvm_sregs{});
  put_struct(n, "fpu", kvm_fpu{});
  put_struct(n, "lapic", kvm_lapic_state{});
  n.props["msrs"] = msr_prop(1, 1);
  return n;
}

TEST(VcpuState, CorruptImageRejectedBeforeAnyIoctl) {
  VmShared vm;
  EXPECT_THROW(restore_vcpu_state(-1, vm, valid_vcpu_node()), SysError);  // valid: reaches KVM_SET_CPUID2

  auto expect_error = [&](StateNode n, const char* prop) {
    try {
      restore_vcpu_state(-1, vm, n);
      ADD_FAILURE() << prop;
    } catch (const SysError& e) {
      ADD_FAILURE() << prop << ": reached an ioctl: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(prop), std::string::npos) << e.what();
    }
  };
  auto n = valid_vcpu_node();
  n.props["lapic"].resize(10);
  expect_error(n, "lapic");
  n = valid_vcpu_node();
  n.props["msrs"] = msr_prop(5000, 1);
  expect_error(n, "msrs");
  n = valid_vcpu_node();
  FlexBuf<CpuidHeader, kvm_cpuid_entry2> cpuid(1);
  cpuid.get()->nent = 300;
  n.props["cpuid"] = cpuid.to_bytes();
  expect_error(n, "cpuid");
  n = valid_vcpu_node();
  n.props.erase("regs");
  expect_error(n, "regs");
  n = valid_vcpu_node();
  n.props["xsave"] = std::vector<uint8_t>(4096);  // this "host" has no XSAVE
  expect_error(n, "XSAVE");
  n = valid_vcpu_node();
  n.props["tsc_khz"] = {1, 2};
  expect_error(n, "tsc_khz");
  vm.caps.xsave = true;
  n = valid_vcpu_node();
  n.props["xsave"] = std::vector<uint8_t>(5000);  // larger than this host's 4096
  expect_error(n, "xsave");
}

TEST(VmState, CorruptImageRejectedBeforeAnyIoctl) {
  StateNode n;
  for (auto [name, id] : {std::pair{"pic_master", 0u}, {"pic_slave", 1u}, {"ioapic", 2u}}) {
    kvm_irqchip c{};
    c.chip_id = id;
    put_struct(n, name, c);
  }
  put_struct(n, "pit2", kvm_pit_state2{});
  put_struct(n, "clock", kvm_clock_data{});
  EXPECT_THROW(restore_vm_state(-1, OptionalCaps{}, n), SysError);
  auto bad = n;
  bad.props["ioapic"][0] = 0;  // chip_id 0 in the IOAPIC slot
  EXPECT_THROW(restore_vm_state(-1, OptionalCaps{}, bad), Error);
  bad = n;
  bad.props["clock"].resize(8);
  try {
    restore_vm_state(-1, OptionalCaps{}, bad);
    FAIL();
  } catch (const SysError&) {
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clock"), std::string::npos);
  }
}

}  // namespace
}  // namespace amber::kvm
