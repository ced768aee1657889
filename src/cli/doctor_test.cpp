#include "cli/doctor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/json.h"

namespace amber::cli {
namespace {

using ::testing::HasSubstr;

DoctorFacts working(kvm::BackendFacts b) {
  DoctorFacts f;
  f.api_version = 12;
  f.backend = b;
  f.required_caps = {{"KVM_CAP_IRQCHIP", true}, {"KVM_CAP_PIT2", true}};
  f.probe_ran = true;
  f.probe_ok = true;
  return f;
}

TEST(Doctor, PvmRunsBareMetalButNotLinux) {
  DoctorReport r = assess(working({.pvm_module = true}));
  EXPECT_EQ(r.backend, "pvm");
  EXPECT_TRUE(r.usable);
  EXPECT_TRUE(r.bare_metal_guests);
  EXPECT_FALSE(r.linux_guests);
  EXPECT_THAT(r.reason, HasSubstr("PVM"));
  EXPECT_THAT(r.advice, HasSubstr("tools/kvm-sandbox.sh"));
}

TEST(Doctor, VtxAndAmdvRunLinux) {
  for (auto b : {kvm::BackendFacts{.intel_module = true}, kvm::BackendFacts{.amd_module = true}}) {
    DoctorReport r = assess(working(b));
    EXPECT_TRUE(r.linux_guests) << r.backend;
    EXPECT_TRUE(r.advice.empty());
  }
  EXPECT_EQ(assess(working({.amd_module = true})).backend, "amd");
}

TEST(Doctor, NoDeviceIsNoneWithTheReason) {
  DoctorFacts f;
  f.open_errno = 2;
  f.open_error = "No such file or directory";
  DoctorReport r = assess(f);
  EXPECT_EQ(r.backend, "none");
  EXPECT_FALSE(r.usable);
  EXPECT_FALSE(r.bare_metal_guests);
  EXPECT_FALSE(r.linux_guests);
  EXPECT_THAT(r.reason, HasSubstr("No such file"));
}

TEST(Doctor, AMissingRequiredCapOrAFailedProbeMeansNoGuests) {
  DoctorFacts f = working({.intel_module = true});
  f.required_caps.push_back({"KVM_CAP_IRQFD", false});
  DoctorReport r = assess(f);
  EXPECT_FALSE(r.usable);
  EXPECT_FALSE(r.linux_guests);
  EXPECT_THAT(r.reason, HasSubstr("KVM_CAP_IRQFD"));

  DoctorFacts g = working({.intel_module = true});
  g.probe_ok = false;
  g.probe_error = "the probe guest made no exit within 5 s";
  r = assess(g);
  EXPECT_FALSE(r.bare_metal_guests);
  EXPECT_FALSE(r.linux_guests);
  EXPECT_THAT(r.reason, HasSubstr("no exit"));
}

TEST(Doctor, AnUnknownBackendIsNotTakenForLinuxCapable) {
  DoctorReport r = assess(working({}));
  EXPECT_EQ(r.backend, "unknown");
  EXPECT_FALSE(r.linux_guests);
}

TEST(Doctor, JsonCarriesBackendAndLinuxGuests) {
  DoctorFacts f = working({.pvm_module = true});
  std::string j = render_doctor_json(f, assess(f));
  EXPECT_THAT(j, HasSubstr("\"kvm\":{\"backend\":\"pvm\""));
  EXPECT_THAT(j, HasSubstr("\"linux_guests\":false"));
  EXPECT_THAT(j, HasSubstr("\"bare_metal_guests\":true"));
  EXPECT_THAT(j, HasSubstr("\"kvm_pvm\":true"));
  std::string t = render_doctor_text(f, assess(f));
  EXPECT_THAT(t, HasSubstr("Linux guests:      no"));
}

}  // namespace
}  // namespace amber::cli
