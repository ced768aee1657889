#include "kvm/cpuid.h"

#include <gtest/gtest.h>

#include "kvm/cpuid_test_support.h"

namespace amber::kvm {
namespace {

using testing::entry;

std::vector<kvm_cpuid_entry2> sample() {
  return {
      entry(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
      entry(1, 0, 0x000906ea, 0xff080800, 0x7ffafbff, 0xbfebfbff),
      entry(4, 0, (1 << 5) | 1, 0, 0, 0, true),      // L1 data
      entry(4, 1, (2 << 5) | 3, 0, 0, 0, true),      // L2 unified
      entry(4, 2, (3 << 5) | 3, 0, 0, 0, true),      // L3 unified
      entry(4, 3, 0, 0, 0, 0, true),                 // end
      entry(0xb, 0, 1, 2, 0x100, 7, true),
      entry(0xb, 1, 4, 8, 0x201, 7, true),
      entry(0xb, 2, 0, 0, 2, 7, true),
      entry(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
      entry(0x40000001, 0, 0x01007afb, 0, 0, 0),
      entry(0x80000001, 0, 0, 0, 0x75c237ff, 0x2fd3fbff),  // ECX[2] SVM set
      entry(0x80000008, 0, 0x3030, 0, 0xffff, 0),
  };
}

// No nested virtualization: its state is not saved (issue 11), so the guest
// is not told it can have it. Every other bit of those registers is kept.
TEST(Cpuid, VmxAndSvmAreHidden) {
  auto in = sample();
  ASSERT_TRUE(find_cpuid(in, 1)->ecx & kCpuidEcxVmx);
  ASSERT_TRUE(find_cpuid(in, 0x80000001)->ecx & kCpuidEcxSvm);
  auto t = adjust_cpuid(in, 0, 1);
  EXPECT_EQ(find_cpuid(t, 1)->ecx & kCpuidEcxVmx, 0u);
  EXPECT_EQ(find_cpuid(t, 0x80000001)->ecx, find_cpuid(in, 0x80000001)->ecx & ~kCpuidEcxSvm);
  EXPECT_EQ(find_cpuid(t, 1)->ecx & ~(kCpuidEcxVmx | kCpuidEcxHypervisor),
            find_cpuid(in, 1)->ecx & ~(kCpuidEcxVmx | kCpuidEcxHypervisor));
}

TEST(Cpuid, Leaf1ApicIdCountAndHypervisorBit) {
  auto t = adjust_cpuid(sample(), 2, 4);
  auto* e = find_cpuid(t, 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ebx >> 24, 2u);
  EXPECT_EQ((e->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(e->ebx & 0xffff, 0x0800u);  // CLFLUSH size, brand index kept
  EXPECT_TRUE(e->ecx & kCpuidEcxHypervisor);
  EXPECT_TRUE(e->edx & kCpuidEdxHtt);

  auto one = adjust_cpuid(sample(), 0, 1);
  EXPECT_FALSE(find_cpuid(one, 1)->edx & kCpuidEdxHtt);
  EXPECT_EQ(find_cpuid(one, 1)->ebx >> 24, 0u);
}

TEST(Cpuid, TscDeadlineBitOnlyWhenTheLapicEmulatesIt) {
  auto in = sample();
  in[1].ecx &= ~(1u << 24);  // as KVM_GET_SUPPORTED_CPUID reports it
  EXPECT_FALSE(find_cpuid(adjust_cpuid(in, 0, 1), 1)->ecx & (1u << 24));
  EXPECT_TRUE(find_cpuid(adjust_cpuid(in, 0, 1, /*tsc_deadline=*/true), 1)->ecx & (1u << 24));
}

TEST(Cpuid, CacheLeafCoreCounts) {
  auto t = adjust_cpuid(sample(), 1, 4);
  EXPECT_EQ(find_cpuid(t, 4, 0)->eax >> 26, 3u);
  EXPECT_EQ((find_cpuid(t, 4, 0)->eax >> 14) & 0xfff, 0u);  // L1: per core
  EXPECT_EQ((find_cpuid(t, 4, 1)->eax >> 14) & 0xfff, 0u);  // L2: per core
  EXPECT_EQ((find_cpuid(t, 4, 2)->eax >> 14) & 0xfff, 3u);  // L3: all four
  EXPECT_EQ((find_cpuid(t, 4, 2)->eax >> 5) & 7, 3u);       // level kept
  EXPECT_EQ(find_cpuid(t, 4, 3)->eax, 0u);                  // terminator untouched
}

TEST(Cpuid, X2ApicTopology) {
  auto t = adjust_cpuid(sample(), 5, 6);
  auto* smt = find_cpuid(t, 0xb, 0);
  auto* core = find_cpuid(t, 0xb, 1);
  auto* end = find_cpuid(t, 0xb, 2);
  EXPECT_EQ(smt->eax, 0u);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ(smt->ecx, 0x100u);
  EXPECT_EQ(core->eax, 3u);  // 6 vCPUs need 3 bits
  EXPECT_EQ(core->ebx, 6u);
  EXPECT_EQ(core->ecx, 0x201u);
  EXPECT_EQ(end->ebx, 0u);
  EXPECT_EQ(end->ecx, 2u);
  for (auto* e : {smt, core, end}) EXPECT_EQ(e->edx, 5u);
}

TEST(Cpuid, KvmLeavesAndOthersPassThrough) {
  auto in = sample();
  auto t = adjust_cpuid(in, 3, 4);
  ASSERT_EQ(t.size(), in.size());
  auto* sig = find_cpuid(t, 0x40000000);
  ASSERT_NE(sig, nullptr);
  EXPECT_EQ(sig->ebx, 0x4b4d564bu);  // "KVMK"
  EXPECT_EQ(find_cpuid(t, 0x40000001)->eax, 0x01007afbu);
  EXPECT_EQ(find_cpuid(t, 0)->eax, 0x1fu);
}

TEST(Cpuid, AmdCoreCount) {
  auto t = adjust_cpuid(sample(), 0, 4);
  auto* e = find_cpuid(t, 0x80000008);
  EXPECT_EQ(e->ecx & 0xff, 3u);
  EXPECT_EQ((e->ecx >> 12) & 0xf, 2u);
  EXPECT_EQ(e->ecx & 0xf00, 0xf00u);  // other bits kept
}

TEST(Cpuid, FindHonoursSignificantIndex) {
  auto t = sample();
  EXPECT_EQ(find_cpuid(t, 1, 7)->function, 1u);  // index ignored for leaf 1
  EXPECT_EQ(find_cpuid(t, 4, 9), nullptr);
  EXPECT_EQ(find_cpuid(t, 0x12345678), nullptr);
}

}  // namespace
}  // namespace amber::kvm
