#pragma once
// Resume pre-flight for the TSC rate (issue 11). An image records each vCPU's
// TSC rate (`tsc_khz`, KVM_GET_TSC_KHZ); a guest that calibrated its clock
// against it must see the same rate after a resume on another host.
// docs/vcpu-state.md "TSC rate" has the rules and why.
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include <linux/kvm.h>

namespace amber::kvm {

// A rate within this many parts per million of the host's counts as the
// same. It is KVM's own default `tsc_tolerance_ppm` (arch/x86/kvm/x86.c
// kvm_set_tsc_khz: a requested rate inside it is run without scaling);
// libvirt's qemuProcessStartValidateTSC likewise accepts a rate within its
// TSC_TOLERANCE without scaling. NTP slews a clock by up to 500 ppm, so the
// guest's NTP absorbs it.
inline constexpr uint32_t kTscTolerancePpm = 250;

// True when `image_khz` is within kTscTolerancePpm of `host_khz`.
bool tsc_rate_within_tolerance(uint32_t image_khz, uint32_t host_khz) noexcept;

// True when the image's CPUID table shows the guest an invariant TSC
// (leaf 0x80000007 EDX bit 8). Only then does a guest rely on the TSC rate
// across a resume: Linux prefers the TSC over the kvm-clock only on an
// invariant TSC (arch/x86/kernel/kvmclock.c lowers kvm-clock's rating to 299
// then); without it the kvm-clock, which KVM recomputes for the vCPU's actual
// rate, keeps time. QEMU makes the same cut: invtsc blocks migration unless
// `tsc-frequency` is set (QEMU commit d99569d9).
bool shows_invariant_tsc(std::span<const kvm_cpuid_entry2> cpuid) noexcept;

struct TscRateFacts {
  uint32_t image_khz = 0;          // the image's `tsc_khz`
  uint32_t host_khz = 0;           // KVM_GET_TSC_KHZ of the fresh vCPU
  bool tsc_control = false;        // KVM_CAP_TSC_CONTROL
  bool guest_relies_on_rate = true;  // shows_invariant_tsc of the image's CPUID
};

enum class TscRateOutcome {
  same,      // equal, or within the tolerance: nothing done
  scaled,    // KVM_SET_TSC_KHZ set the image's rate
  unscaled,  // differs, cannot be scaled, and the guest does not rely on it: resumed with a warning
};

// Decides, and with `set_khz` (KVM_SET_TSC_KHZ on the vCPU; returns 0 or
// -errno) applies, the TSC rate for a resumed vCPU:
//   - within kTscTolerancePpm: `same`, no ioctl;
//   - else with KVM_CAP_TSC_CONTROL: set_khz(image_khz); `scaled` when it
//     succeeds;
//   - else (no cap, or the ioctl failed) `unscaled` when the guest does not
//     rely on the rate; `*warning` says so, naming both rates;
//   - else throws amber::Error, one line naming both rates (and the ioctl's
//     error), so the resume is refused before the guest sees a wrong rate.
// `image_khz` or `host_khz` 0 (not recorded / not readable): `same`.
TscRateOutcome reconcile_tsc_rate(const TscRateFacts& f, const std::function<int(uint32_t khz)>& set_khz,
                                  std::string* warning);

}  // namespace amber::kvm
