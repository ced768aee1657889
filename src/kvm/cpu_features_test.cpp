#include "kvm/cpu_features.h"

#include <gtest/gtest.h>

#include "kvm/cpuid_test_support.h"

namespace amber::kvm {
namespace {

using testing::entry;

TEST(CpuFeatures, TheSameTableLacksNothing) {
  std::vector<kvm_cpuid_entry2> t = {entry(1, 0, 0, 0, 0x7ffafbff, 0xbfebfbff), entry(7, 0, 0, 0xd19f4fbb, 0, 0, true)};
  EXPECT_TRUE(missing_cpu_features(t, t).empty());
}

TEST(CpuFeatures, MissingBitsAreNamed) {
  std::vector<kvm_cpuid_entry2> image = {entry(1, 0, 0, 0, (1u << 28) | (1u << 20), 0),
                                         entry(7, 0, 0, (1u << 5) | (1u << 16) | (1u << 1), 0, 0, true),
                                         entry(7, 1, 1u << 4, 0, 0, 0, true)};
  std::vector<kvm_cpuid_entry2> host = {entry(1, 0, 0, 0, 1u << 20, 0), entry(7, 0, 0, 1u << 5, 0, 0, true),
                                        entry(7, 1, 0, 0, 0, 0, true)};
  auto m = missing_cpu_features(image, host);
  EXPECT_EQ(m, (std::vector<std::string>{"avx (leaf 0x1 ECX bit 28)", "leaf 0x7 EBX bit 1",
                                         "avx512f (leaf 0x7 EBX bit 16)", "avx_vnni (leaf 0x7.1 EAX bit 4)"}));
}

TEST(CpuFeatures, BitsTheVmmOrTheGuestDecideAreNotHostFeatures) {
  // OSXSAVE, TSC-deadline, hypervisor, HTT, OSPKE.
  std::vector<kvm_cpuid_entry2> image = {entry(1, 0, 0, 0, (1u << 27) | (1u << 24) | (1u << 31), 1u << 28),
                                         entry(7, 0, 0, 0, 1u << 4, 0, true)};
  std::vector<kvm_cpuid_entry2> host = {entry(1, 0, 0, 0, 0, 0), entry(7, 0, 0, 0, 0, 0, true)};
  EXPECT_TRUE(missing_cpu_features(image, host).empty());
}

TEST(CpuFeatures, ALeafTheHostLacksCountsAllItsBits) {
  std::vector<kvm_cpuid_entry2> image = {entry(0x80000007, 0, 0, 0, 0, 1u << 8)};
  EXPECT_EQ(missing_cpu_features(image, {}), (std::vector<std::string>{"invtsc (leaf 0x80000007 EDX bit 8)"}));
}

// Issue 11 (pre-flight): an image whose guest could enable AVX-512 state
// in XCR0 names the components a host without them lacks.
TEST(CpuFeatures, XsaveComponentsTheHostLacksAreNamed) {
  std::vector<kvm_cpuid_entry2> image = {entry(0xd, 0, 0xe7, 0, 0, 0, true)};  // x87 SSE AVX opmask zmm
  std::vector<kvm_cpuid_entry2> host = {entry(0xd, 0, 0x07, 0, 0, 0, true)};   // x87 SSE AVX
  EXPECT_EQ(missing_cpu_features(image, host),
            (std::vector<std::string>{"xcr0.opmask (leaf 0xd EAX bit 5)", "xcr0.zmm_hi256 (leaf 0xd EAX bit 6)",
                                      "xcr0.hi16_zmm (leaf 0xd EAX bit 7)"}));
  EXPECT_TRUE(missing_cpu_features(host, image).empty());
}

}  // namespace
}  // namespace amber::kvm
