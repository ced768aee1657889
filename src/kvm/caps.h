#pragma once
// KVM capabilities amber needs (checked once per VM, failing with the name of
// the missing one) and the optional ones it adapts to (api.rst section 4.4
// KVM_CHECK_EXTENSION; the per-cap meaning is in section 8 "Other capabilities").
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace amber::kvm {

// Returns the KVM_CHECK_EXTENSION value for a capability (0 = absent).
using CapProbe = std::function<int(long cap)>;

struct RequiredCap {
  long cap;
  const char* name;
  const char* why;
};
// Every entry must be non-zero, else create_vm fails.
extern const RequiredCap kRequiredCaps[7];

// Throws amber::Error "KVM lacks KVM_CAP_X (why): this host kernel cannot run amber".
void check_required_caps(const CapProbe& probe);

struct OptionalCaps {
  bool xsave = false;
  uint32_t xsave2_size = 0;  // KVM_GET_XSAVE2 buffer size; 0 = use KVM_GET_XSAVE (4096)
  bool xcrs = false;         // 0 on CPUs without XSAVE: then KVM_SET_XCRS fails with EINVAL
  bool debugregs = false;
  bool vcpu_events = false;
  uint32_t clock_flags = 0;  // KVM_CAP_ADJUST_CLOCK: the KVM_CLOCK_* flags KVM_GET_CLOCK can return
  bool kvmclock_ctrl = false;
  bool get_tsc_khz = false;
  bool tsc_control = false;
  bool sregs2 = false;       // KVM_GET/SET_SREGS2: a PAE guest's PDPTRs (api.rst 4.131, 4.132)

  bool clock_realtime() const noexcept;
};
OptionalCaps probe_optional_caps(const CapProbe& probe);

// For `amber doctor`: each capability amber requires or adapts to, by name,
// and whether this KVM has it.
struct NamedCap {
  std::string name;
  bool present;
};
std::vector<NamedCap> list_required_caps(const CapProbe& probe);
std::vector<NamedCap> list_optional_caps(const CapProbe& probe);

}  // namespace amber::kvm
