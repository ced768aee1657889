// Issue 11, TSC-rate pre-flight end to end: an image edited to claim another
// TSC rate (and, in one case, an invariant TSC) is resumed through
// resume_machine, as `amber resume` does. What must happen depends on this
// host's KVM (docs/vcpu-state.md "TSC rate"), so each case first reads the
// facts and then asserts the one outcome they allow: scaled (the resumed vCPU
// runs at the image's rate: KVM_GET_TSC_KHZ, recorded by a new save),
// resumed unscaled with the guest running on, or refused with one line naming
// both rates or the missing feature.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>

#include <fmt/core.h>

#include "amber/error.h"
#include "kvm/kvm_abi.h"
#include "kvm/kvm_system.h"
#include "kvm/tsc_rate.h"
#include "vmm/bare_vm_harness.h"
#include "vmm/kvm_test_temp_dir.h"

#include "process.h"  // guest-tests/linux_tests: a child driven through pipes

namespace amber::vmm {
namespace {

using namespace std::chrono_literals;

using testing::BareVm;

// The CPUID entries of a saved `cpuid` property, in place.
std::span<kvm_cpuid_entry2> cpuid_entries(std::vector<uint8_t>& prop) {
  constexpr size_t h = sizeof(kvm::CpuidHeader);
  if (prop.size() < h) return {};
  return {reinterpret_cast<kvm_cpuid_entry2*>(prop.data() + h), (prop.size() - h) / sizeof(kvm_cpuid_entry2)};
}

uint32_t tsc_khz_of(const StateNode& vcpu) {
  auto* p = vcpu.prop("tsc_khz");
  if (!p || p->size() != 4) return 0;
  uint32_t v;
  std::memcpy(&v, p->data(), 4);
  return v;
}

void set_tsc_khz(StateNode& vcpu, uint32_t khz) {
  vcpu.props["tsc_khz"] = {uint8_t(khz), uint8_t(khz >> 8), uint8_t(khz >> 16), uint8_t(khz >> 24)};
}

// Leaf 0x80000007 EDX bit 8 of a vCPU node's CPUID table, set; false when the
// table has no leaf 0x80000007.
bool claim_invariant_tsc(StateNode& vcpu) {
  auto& bytes = vcpu.props["cpuid"];
  for (auto& e : cpuid_entries(bytes))
    if (e.function == 0x80000007 && e.index == 0) {
      e.edx |= 1u << 8;
      return true;
    }
  return false;
}

std::vector<kvm_cpuid_entry2> cpuid_of(StateNode vcpu) {
  auto span = cpuid_entries(vcpu.props["cpuid"]);
  return {span.begin(), span.end()};
}

// A copy of the image at `from` with its machine tree changed by `edit`:
// same RAM, same command line; written by the image writer, so it is a
// well-formed image that claims what `edit` says.
template <class F>
void rewrite_image(const std::string& from, const std::string& to, F edit) {
  auto img = image::Image::open(from);
  image::SaveInput in;
  in.machine = img.machine();
  edit(in.machine);
  in.cmdline = img.info().cmdline;
  in.note = img.info().note;
  std::vector<Mapping> ram;
  for (size_t i = 0; i < img.ram_regions().size(); ++i) {
    ram.push_back(img.map_ram(i));
    in.ram.push_back({img.ram_regions()[i].gpa, std::span<const uint8_t>(ram.back().data(), ram.back().size())});
  }
  image::write_image(to, in);
}

struct Saved {
  testing::TempDir dir{"amber-tsc"};
  std::string path = dir.path + "/counter.amber";
  std::vector<uint32_t> before;
  uint32_t khz = 0;
  std::vector<kvm_cpuid_entry2> cpuid;
  // The counter guest saved mid-loop (it counts to 3000 on port 0x520).
  void save() {
    BareVm first;
    first.boot("counter");
    auto r = first.m->run({"tick 1000", path, false, false});
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
    before = first.port.values;
    auto img = image::Image::open(path);
    const StateNode& v = img.machine().require_child("vcpus").require_child("vcpu@0");
    khz = tsc_khz_of(v);
    cpuid = cpuid_of(v);
    ASSERT_NE(khz, 0u) << "this KVM records no TSC rate (KVM_CAP_GET_TSC_KHZ): nothing to check";
  }
};

// The resumed guest counts on from where it was saved, to 3000.
void expect_counts_on(BareVm& vm, const std::vector<uint32_t>& before) {
  auto r = vm.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_FALSE(vm.port.values.empty());
  EXPECT_EQ(vm.port.values.front(), before.back() + 1);
  EXPECT_EQ(vm.port.values.back(), 3000u);
}

bool tsc_control() { return kvm::KvmSystem().check_capability(KVM_CAP_TSC_CONTROL) > 0; }

TEST(ResumeTscRate, ARateWithinTheToleranceResumesUnchanged) {
  Saved s;
  ASSERT_NO_FATAL_FAILURE(s.save());
  uint32_t near = s.khz + s.khz / 10'000;  // +100 ppm
  ASSERT_TRUE(kvm::tsc_rate_within_tolerance(near, s.khz));
  std::string edited = s.dir.path + "/near.amber";
  rewrite_image(s.path, edited, [&](StateNode& m) { set_tsc_khz(m.children["vcpus"].children["vcpu@0"], near); });
  auto img = image::Image::open(edited);
  BareVm vm;
  vm.resume(img);
  // Not scaled: the vCPU keeps this host's rate (no KVM_SET_TSC_KHZ).
  EXPECT_EQ(tsc_khz_of(vm.m->save_state().require_child("vcpus").require_child("vcpu@0")), s.khz);
  expect_counts_on(vm, s.before);
}

TEST(ResumeTscRate, AnotherRateIsScaledOrRefusedOrAcceptedWithoutInvariantTsc) {
  Saved s;
  ASSERT_NO_FATAL_FAILURE(s.save());
  uint32_t far = s.khz + s.khz / 10;  // +10 %
  bool control = tsc_control(), invtsc = kvm::shows_invariant_tsc(s.cpuid);
  std::printf("host TSC %u kHz, image edited to %u kHz; KVM_CAP_TSC_CONTROL %d, guest shown invariant TSC %d\n", s.khz,
              far, control, invtsc);
  std::string edited = s.dir.path + "/far.amber";
  rewrite_image(s.path, edited, [&](StateNode& m) { set_tsc_khz(m.children["vcpus"].children["vcpu@0"], far); });
  auto img = image::Image::open(edited);
  BareVm vm;
  if (!control && invtsc) {
    try {
      vm.resume(img);
      ADD_FAILURE() << "a guest on an invariant TSC resumed at another rate without scaling";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(fmt::format("{} kHz", far)), std::string::npos) << m;
      EXPECT_NE(m.find(fmt::format("{} kHz", s.khz)), std::string::npos) << m;
    }
    return;
  }
  vm.resume(img);
  // The rate the resumed guest's TSC runs at.
  uint32_t now = tsc_khz_of(vm.m->save_state().require_child("vcpus").require_child("vcpu@0"));
  std::printf("resumed vCPU's TSC: %u kHz\n", now);
  EXPECT_EQ(now, control ? far : s.khz);
  expect_counts_on(vm, s.before);
}

// The image also claims an invariant TSC. On a host without one the CPU
// pre-flight refuses it by name; on a host with one, the rate decides as
// above (a guest shown an invariant TSC relies on its rate).
TEST(ResumeTscRate, AnImageClaimingInvariantTscAtAnotherRateIsScaledOrRefused) {
  Saved s;
  ASSERT_NO_FATAL_FAILURE(s.save());
  uint32_t far = s.khz - s.khz / 10;  // -10 %
  bool control = tsc_control(), host_invtsc = kvm::shows_invariant_tsc(s.cpuid);
  std::string edited = s.dir.path + "/invtsc.amber";
  bool claimed = false;
  rewrite_image(s.path, edited, [&](StateNode& m) {
    auto& v = m.children["vcpus"].children["vcpu@0"];
    set_tsc_khz(v, far);
    claimed = claim_invariant_tsc(v);
  });
  ASSERT_TRUE(claimed) << "the saved CPUID table has no leaf 0x80000007";
  std::printf("host TSC %u kHz, image edited to %u kHz + invtsc; KVM_CAP_TSC_CONTROL %d, host invariant TSC %d\n",
              s.khz, far, control, host_invtsc);
  auto img = image::Image::open(edited);
  BareVm vm;
  if (host_invtsc && control) {
    vm.resume(img);
    EXPECT_EQ(tsc_khz_of(vm.m->save_state().require_child("vcpus").require_child("vcpu@0")), far);
    expect_counts_on(vm, s.before);
    return;
  }
  try {
    vm.resume(img);
    ADD_FAILURE() << "resumed a guest on an invariant TSC this host cannot give it";
  } catch (const Error& e) {
    std::string m = e.what();
    if (!host_invtsc) {
      EXPECT_NE(m.find("invtsc (leaf 0x80000007 EDX bit 8)"), std::string::npos) << m;
    } else {
      EXPECT_NE(m.find(fmt::format("{} kHz", far)), std::string::npos) << m;
      EXPECT_NE(m.find(fmt::format("{} kHz", s.khz)), std::string::npos) << m;
    }
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // `amber resume` of that image: one error line, exit 1, no crash.
  auto r = lt::run({AMBER_BINARY, "resume", edited}, 60s);
  EXPECT_EQ(r.status, lt::ExitStatus::exited(1)) << r.transcript();
  std::string want = host_invtsc ? fmt::format("{} kHz", far) : "invtsc (leaf 0x80000007 EDX bit 8)";
  EXPECT_NE(r.err.find(want), std::string::npos) << r.transcript();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.transcript();
}

}  // namespace
}  // namespace amber::vmm
