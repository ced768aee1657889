#include "kvm/caps.h"

#include <linux/kvm.h>

#include <fmt/core.h>

#include "kvm/kvm_abi.h"

#include "amber/error.h"

namespace amber::kvm {

const RequiredCap kRequiredCaps[7] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC/IOAPIC/LAPIC"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM from host memory"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "real-mode TSS"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel i8254 timer"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "race-free vCPU kicks"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtio queue notifications"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "virtio interrupts"},
};

void check_required_caps(const CapProbe& probe) {
  for (const auto& c : kRequiredCaps)
    if (probe(c.cap) <= 0)
      throw Error(fmt::format("KVM lacks {} ({}): this host kernel cannot run amber", c.name, c.why));
}

bool OptionalCaps::clock_realtime() const noexcept { return (clock_flags & KVM_CLOCK_REALTIME) != 0; }

OptionalCaps probe_optional_caps(const CapProbe& probe) {
  OptionalCaps c;
  c.xsave = probe(KVM_CAP_XSAVE) > 0;
  // api.rst KVM_GET_XSAVE2: "the size of the buffer is the value returned by
  // KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)"; only worth it above the 4 KiB of
  // struct kvm_xsave (AMX state).
  int xsave2 = probe(KVM_CAP_XSAVE2);
  if (c.xsave && xsave2 > static_cast<int>(kXsaveSize)) c.xsave2_size = static_cast<uint32_t>(xsave2);
  c.xcrs = probe(KVM_CAP_XCRS) > 0;
  c.debugregs = probe(KVM_CAP_DEBUGREGS) > 0;
  c.vcpu_events = probe(KVM_CAP_VCPU_EVENTS) > 0;
  int adj = probe(KVM_CAP_ADJUST_CLOCK);
  c.clock_flags = adj > 0 ? static_cast<uint32_t>(adj) : 0;
  c.kvmclock_ctrl = probe(KVM_CAP_KVMCLOCK_CTRL) > 0;
  c.get_tsc_khz = probe(KVM_CAP_GET_TSC_KHZ) > 0;
  c.tsc_control = probe(KVM_CAP_TSC_CONTROL) > 0;
  c.sregs2 = probe(KVM_CAP_SREGS2) > 0;
  return c;
}

std::vector<NamedCap> list_required_caps(const CapProbe& probe) {
  std::vector<NamedCap> out;
  for (const auto& c : kRequiredCaps) out.push_back({c.name, probe(c.cap) > 0});
  return out;
}

std::vector<NamedCap> list_optional_caps(const CapProbe& probe) {
  // What probe_optional_caps adapts to, plus what later features will want
  // (nested state for snapshots of nested guests, guest debug for a gdb
  // stub, the dirty ring for background saves).
  static constexpr std::pair<long, const char*> kList[] = {
      {KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
      {KVM_CAP_XSAVE2, "KVM_CAP_XSAVE2"},
      {KVM_CAP_XCRS, "KVM_CAP_XCRS"},
      {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
      {KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
      {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
      {KVM_CAP_KVMCLOCK_CTRL, "KVM_CAP_KVMCLOCK_CTRL"},
      {KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ"},
      {KVM_CAP_TSC_CONTROL, "KVM_CAP_TSC_CONTROL"},
      {KVM_CAP_SREGS2, "KVM_CAP_SREGS2"},
      {KVM_CAP_NESTED_STATE, "KVM_CAP_NESTED_STATE"},
      {KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG"},
      {KVM_CAP_DIRTY_LOG_RING, "KVM_CAP_DIRTY_LOG_RING"},
  };
  std::vector<NamedCap> out;
  for (auto& [cap, name] : kList) out.push_back({name, probe(cap) > 0});
  return out;
}

}  // namespace amber::kvm
