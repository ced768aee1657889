#include "firmware/mptable.h"

#include <cstring>
#include <map>

#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/mp_spec.h"
#include "firmware/test_support.h"

namespace amber::x86 {
namespace {

using testing::guest_bytes;
using testing::TestVm;

uint8_t byte_sum(const std::vector<uint8_t>& b) {
  uint8_t s = 0;
  for (uint8_t x : b) s = static_cast<uint8_t>(s + x);
  return s;
}

// Parses the table the way Linux's mpparse.c does and checks it as it goes.
struct ParsedMp {
  MpConfigHeader hdr;
  std::vector<MpProcessorEntry> cpus;
  std::vector<MpBusEntry> buses;
  std::vector<MpIoapicEntry> ioapics;
  std::vector<MpInterruptEntry> io_ints, local_ints;
};

ParsedMp parse(const GuestMemory& mem) {
  ParsedMp p{};
  auto fp_bytes = guest_bytes(mem, layout::kMpTableAddr, sizeof(MpFloatingPointer));
  MpFloatingPointer fp;
  std::memcpy(&fp, fp_bytes.data(), sizeof fp);
  EXPECT_EQ(std::memcmp(fp.signature, "_MP_", 4), 0);
  EXPECT_EQ(fp.length, 1);
  EXPECT_EQ(fp.spec_rev, 4);
  EXPECT_EQ(fp.feature1, 0);
  EXPECT_EQ(byte_sum(fp_bytes), 0) << "floating pointer checksum";
  EXPECT_EQ(layout::kMpTableAddr % 16, 0u);

  p.hdr = mem.read_obj<MpConfigHeader>(fp.physptr).value();
  EXPECT_EQ(std::memcmp(p.hdr.signature, "PCMP", 4), 0);
  EXPECT_EQ(p.hdr.spec_rev, 4);
  EXPECT_EQ(p.hdr.lapic_addr, layout::kLapicAddr);
  auto table = guest_bytes(mem, fp.physptr, p.hdr.length);
  EXPECT_EQ(byte_sum(table), 0) << "configuration table checksum";

  uint64_t off = sizeof(MpConfigHeader);
  for (uint16_t i = 0; i < p.hdr.entry_count; ++i) {
    EXPECT_LT(off, table.size());
    if (off >= table.size()) break;
    auto take = [&](auto& vec) {
      typename std::remove_reference_t<decltype(vec)>::value_type e;
      std::memcpy(&e, table.data() + off, sizeof e);
      vec.push_back(e);
      off += sizeof e;
    };
    switch (table[off]) {
      case kMpProcessor: take(p.cpus); break;
      case kMpBus: take(p.buses); break;
      case kMpIoapic: take(p.ioapics); break;
      case kMpIoInterrupt: take(p.io_ints); break;
      case kMpLocalInterrupt: take(p.local_ints); break;
      default: ADD_FAILURE() << "unknown entry type " << int(table[off]); return p;
    }
  }
  EXPECT_EQ(off, table.size()) << "length covers exactly the entries";
  return p;
}

void check_table(uint32_t ncpus) {
  SCOPED_TRACE(ncpus);
  TestVm vm(16 << 20);
  write_mptable(vm.mem, ncpus);
  ParsedMp p = parse(vm.mem);
  EXPECT_EQ(p.hdr.entry_count, ncpus + 1 + 1 + 24 + 2);
  ASSERT_EQ(p.cpus.size(), ncpus);
  for (uint32_t i = 0; i < ncpus; ++i) {
    EXPECT_EQ(p.cpus[i].lapic_id, i);
    EXPECT_EQ(p.cpus[i].cpu_flags, i == 0 ? 3 : 1);  // enabled; BSP only on 0
    EXPECT_EQ(p.cpus[i].cpu_signature, kMpCpuSignature);
  }
  ASSERT_EQ(p.buses.size(), 1u);
  EXPECT_EQ(std::memcmp(p.buses[0].bus_type, "ISA   ", 6), 0);
  ASSERT_EQ(p.ioapics.size(), 1u);
  EXPECT_EQ(p.ioapics[0].ioapic_id, ncpus);
  EXPECT_EQ(p.ioapics[0].ioapic_version, 0x11);
  EXPECT_EQ(p.ioapics[0].flags, 1);
  EXPECT_EQ(p.ioapics[0].address, layout::kIoapicAddr);
  ASSERT_EQ(p.io_ints.size(), 24u);
  for (uint32_t pin = 0; pin < 24; ++pin) {
    EXPECT_EQ(p.io_ints[pin].int_type, kMpIntInt);
    EXPECT_EQ(p.io_ints[pin].src_bus_id, p.buses[0].bus_id);
    EXPECT_EQ(p.io_ints[pin].src_bus_irq, pin);
    EXPECT_EQ(p.io_ints[pin].dst_id, ncpus);
    EXPECT_EQ(p.io_ints[pin].dst_pin, pin);
  }
  ASSERT_EQ(p.local_ints.size(), 2u);
  EXPECT_EQ(p.local_ints[0].int_type, kMpIntExtInt);
  EXPECT_EQ(p.local_ints[0].dst_pin, 0);
  EXPECT_EQ(p.local_ints[1].int_type, kMpIntNmi);
  EXPECT_EQ(p.local_ints[1].dst_pin, 1);
  EXPECT_EQ(p.local_ints[1].dst_id, 0xff);
  // Stays inside the reserved EBDA range, clear of the VGA window.
  EXPECT_LE(layout::kMpTableAddr + mptable_size(ncpus), 0xa0000u);
  EXPECT_EQ(sizeof(MpFloatingPointer) + p.hdr.length, mptable_size(ncpus));
}

TEST(MpTable, OneCpu) { check_table(1); }
TEST(MpTable, ThirtyTwoCpus) { check_table(32); }
TEST(MpTable, FourCpus) { check_table(4); }

TEST(MpTable, RejectsBadCpuCounts) {
  TestVm vm(16 << 20);
  EXPECT_THROW(write_mptable(vm.mem, 0), Error);
  EXPECT_THROW(write_mptable(vm.mem, 33), Error);
}

}  // namespace
}  // namespace amber::x86
