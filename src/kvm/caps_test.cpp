#include "kvm/caps.h"

#include <linux/kvm.h>

#include <gtest/gtest.h>

#include "amber/error.h"
#include "kvm/kvm_system.h"

namespace amber::kvm {
namespace {

TEST(Caps, AllRequiredPresentPasses) {
  EXPECT_NO_THROW(check_required_caps([](long) { return 1; }));
}

// Each required capability, when missing, is named in the error.
TEST(Caps, EachMissingCapIsNamed) {
  for (const auto& c : kRequiredCaps) {
    try {
      check_required_caps([&](long cap) { return cap == c.cap ? 0 : 1; });
      ADD_FAILURE() << c.name << " missing but accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(c.name), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.why), std::string::npos) << msg;
    }
  }
}

TEST(Caps, OptionalProbe) {
  auto caps = probe_optional_caps([](long cap) -> int {
    switch (cap) {
      case KVM_CAP_XSAVE: return 1;
      case KVM_CAP_XSAVE2: return 4096;  // not larger than kvm_xsave: plain KVM_GET_XSAVE
      case KVM_CAP_XCRS: return 0;       // a CPU without XSAVE reports 0 here
      case KVM_CAP_ADJUST_CLOCK: return KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME;
      default: return 0;
    }
  });
  EXPECT_TRUE(caps.xsave);
  EXPECT_EQ(caps.xsave2_size, 0u);
  EXPECT_FALSE(caps.xcrs);
  EXPECT_TRUE(caps.clock_realtime());
  EXPECT_FALSE(caps.kvmclock_ctrl);

  auto amx = probe_optional_caps([](long cap) { return cap == KVM_CAP_XSAVE ? 1 : cap == KVM_CAP_XSAVE2 ? 11008 : 0; });
  EXPECT_EQ(amx.xsave2_size, 11008u);
  EXPECT_FALSE(amx.clock_realtime());
}

TEST(KvmSystem, MissingDeviceGivesAdvice) {
  try {
    KvmSystem sys("/nonexistent/kvm");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "cannot open /nonexistent/kvm: No such file or directory — this machine has no KVM; run amber "
                 "inside tools/kvm-sandbox.sh (docs/sandbox.md)");
  }
}

TEST(KvmSystem, NotAKvmDeviceFailsOnApiVersion) {
  try {
    KvmSystem sys("/dev/null");
    FAIL();
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find("KVM_GET_API_VERSION"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace amber::kvm
