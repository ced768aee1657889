#include "kvm/tsc_rate.h"

#include <cstring>

#include <fmt/format.h>

#include "amber/error.h"

namespace amber::kvm {

bool tsc_rate_within_tolerance(uint32_t image_khz, uint32_t host_khz) noexcept {
  uint64_t diff = image_khz > host_khz ? image_khz - host_khz : host_khz - image_khz;
  // KVM: thresh = adjust_tsc_khz(tsc_khz, ±tsc_tolerance_ppm), i.e.
  // host · (1 ± ppm/10⁶), bounds included.
  return diff * 1'000'000u <= uint64_t(host_khz) * kTscTolerancePpm;
}

bool shows_invariant_tsc(std::span<const kvm_cpuid_entry2> cpuid) noexcept {
  for (auto& e : cpuid)
    if (e.function == 0x80000007 && e.index == 0) return (e.edx >> 8) & 1;
  return false;
}

TscRateOutcome reconcile_tsc_rate(const TscRateFacts& f, const std::function<int(uint32_t khz)>& set_khz,
                                  std::string* warning) {
  if (f.image_khz == 0 || f.host_khz == 0 || tsc_rate_within_tolerance(f.image_khz, f.host_khz))
    return TscRateOutcome::same;
  std::string why;
  if (f.tsc_control) {
    int rc = set_khz(f.image_khz);
    if (rc == 0) return TscRateOutcome::scaled;
    why = fmt::format("KVM_SET_TSC_KHZ failed: {}", std::strerror(-rc));
  } else {
    why = "this host's KVM cannot scale the TSC (no KVM_CAP_TSC_CONTROL)";
  }
  std::string rates = fmt::format("the image's guest ran its TSC at {} kHz, this host's runs at {} kHz "
                                  "(more than {} ppm apart) and {}",
                                  f.image_khz, f.host_khz, kTscTolerancePpm, why);
  if (!f.guest_relies_on_rate) {
    if (warning)
      *warning = rates + "; resuming anyway: the guest was not shown an invariant TSC, so it keeps time "
                         "by the kvm-clock, which KVM adjusts to the new rate";
    return TscRateOutcome::unscaled;
  }
  throw Error(rates + "; the guest was shown an invariant TSC and would keep time wrongly: resume the image "
                      "on a host with TSC scaling or a TSC at that rate");
}

}  // namespace amber::kvm
