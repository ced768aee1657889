#include "kvm/tsc_rate.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "amber/error.h"
#include "kvm/cpuid_test_support.h"

namespace amber::kvm {
namespace {

using testing::entry;

// Records the KVM_SET_TSC_KHZ calls and answers them with `rc`.
struct FakeSet {
  int rc = 0;
  std::vector<uint32_t> calls;
  std::function<int(uint32_t)> fn() {
    return [this](uint32_t khz) {
      calls.push_back(khz);
      return rc;
    };
  }
};

TscRateFacts facts(uint32_t image, uint32_t host, bool control, bool relies = true) {
  return {image, host, control, relies};
}

TEST(TscRate, ToleranceIsKvms250PpmBoundsIncluded) {
  // 2'000'000 kHz · 250 ppm = 500 kHz.
  EXPECT_TRUE(tsc_rate_within_tolerance(2'000'000, 2'000'000));
  EXPECT_TRUE(tsc_rate_within_tolerance(2'000'500, 2'000'000));
  EXPECT_TRUE(tsc_rate_within_tolerance(1'999'500, 2'000'000));
  EXPECT_FALSE(tsc_rate_within_tolerance(2'000'501, 2'000'000));
  EXPECT_FALSE(tsc_rate_within_tolerance(1'999'499, 2'000'000));
  // No overflow at the top of u32.
  EXPECT_TRUE(tsc_rate_within_tolerance(0xffffffffu, 0xffffffffu));
  EXPECT_FALSE(tsc_rate_within_tolerance(0xffffffffu, 1));
}

TEST(TscRate, EqualRatesDoNothing) {
  FakeSet set;
  std::string warn;
  EXPECT_EQ(reconcile_tsc_rate(facts(2'400'000, 2'400'000, true), set.fn(), &warn), TscRateOutcome::same);
  EXPECT_TRUE(set.calls.empty());
  EXPECT_TRUE(warn.empty());
}

TEST(TscRate, WithinToleranceGoesOnSilentlyEvenWithoutScaling) {
  FakeSet set;
  std::string warn;
  EXPECT_EQ(reconcile_tsc_rate(facts(2'400'500, 2'400'000, false), set.fn(), &warn), TscRateOutcome::same);
  EXPECT_EQ(reconcile_tsc_rate(facts(2'399'500, 2'400'000, true), set.fn(), &warn), TscRateOutcome::same);
  EXPECT_TRUE(set.calls.empty());
  EXPECT_TRUE(warn.empty());
}

TEST(TscRate, OutsideToleranceWithTscControlScalesToTheImagesRate) {
  FakeSet set;
  std::string warn;
  EXPECT_EQ(reconcile_tsc_rate(facts(3'000'000, 2'400'000, true), set.fn(), &warn), TscRateOutcome::scaled);
  EXPECT_EQ(set.calls, std::vector<uint32_t>{3'000'000});
  EXPECT_TRUE(warn.empty());
}

TEST(TscRate, OutsideToleranceWithoutTscControlIsRefusedNamingBothRates) {
  FakeSet set;
  try {
    reconcile_tsc_rate(facts(3'000'000, 2'400'000, false), set.fn(), nullptr);
    ADD_FAILURE() << "resumed a guest on an invariant TSC at another rate";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("3000000 kHz"), std::string::npos) << m;
    EXPECT_NE(m.find("2400000 kHz"), std::string::npos) << m;
    EXPECT_NE(m.find("no KVM_CAP_TSC_CONTROL"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
  }
  EXPECT_TRUE(set.calls.empty()) << "KVM_SET_TSC_KHZ without the capability";
}

TEST(TscRate, AFailingSetTscKhzIsRefusedNamingTheError) {
  FakeSet set{-EINVAL};
  try {
    reconcile_tsc_rate(facts(1'000'000, 2'400'000, true), set.fn(), nullptr);
    ADD_FAILURE() << "resumed although KVM_SET_TSC_KHZ failed";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("1000000 kHz"), std::string::npos) << m;
    EXPECT_NE(m.find("2400000 kHz"), std::string::npos) << m;
    EXPECT_NE(m.find("KVM_SET_TSC_KHZ failed: Invalid argument"), std::string::npos) << m;
  }
  EXPECT_EQ(set.calls, std::vector<uint32_t>{1'000'000});
}

TEST(TscRate, AGuestWithoutInvariantTscResumesUnscaledWithAWarning) {
  FakeSet set{-EINVAL};
  std::string warn;
  EXPECT_EQ(reconcile_tsc_rate(facts(3'000'000, 2'400'000, false, false), set.fn(), &warn), TscRateOutcome::unscaled);
  EXPECT_TRUE(set.calls.empty());
  EXPECT_NE(warn.find("3000000 kHz"), std::string::npos) << warn;
  EXPECT_NE(warn.find("2400000 kHz"), std::string::npos) << warn;
  EXPECT_NE(warn.find("invariant TSC"), std::string::npos) << warn;
  // With TSC control it still scales first; a failure then warns too.
  warn.clear();
  EXPECT_EQ(reconcile_tsc_rate(facts(3'000'000, 2'400'000, true, false), set.fn(), &warn), TscRateOutcome::unscaled);
  EXPECT_EQ(set.calls, std::vector<uint32_t>{3'000'000});
  EXPECT_NE(warn.find("KVM_SET_TSC_KHZ failed"), std::string::npos) << warn;
}

TEST(TscRate, AnUnknownRateIsLeftAlone) {
  FakeSet set;
  EXPECT_EQ(reconcile_tsc_rate(facts(0, 2'400'000, true), set.fn(), nullptr), TscRateOutcome::same);
  EXPECT_EQ(reconcile_tsc_rate(facts(2'400'000, 0, true), set.fn(), nullptr), TscRateOutcome::same);
  EXPECT_TRUE(set.calls.empty());
}

TEST(TscRate, InvariantTscIsLeaf80000007EdxBit8) {
  std::vector<kvm_cpuid_entry2> t = {entry(1, 0, 0, 0, 0, 0), entry(0x80000007, 0, 0, 0, 0, 1u << 8)};
  EXPECT_TRUE(shows_invariant_tsc(t));
  t[1].edx = ~(1u << 8);
  EXPECT_FALSE(shows_invariant_tsc(t));
  EXPECT_FALSE(shows_invariant_tsc(std::span<const kvm_cpuid_entry2>(t.data(), 1)));
}

}  // namespace
}  // namespace amber::kvm
