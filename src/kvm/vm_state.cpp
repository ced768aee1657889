#include "kvm/vm_state.h"

#include <linux/kvm.h>
#include <time.h>

#include "kvm/fd.h"
#include "kvm/state_props.h"

namespace amber::kvm {
namespace {

constexpr const char* kNode = "vm";

struct Chip {
  uint32_t id;
  const char* prop;
};
constexpr Chip kChips[] = {
    {KVM_IRQCHIP_PIC_MASTER, "pic_master"},
    {KVM_IRQCHIP_PIC_SLAVE, "pic_slave"},
    {KVM_IRQCHIP_IOAPIC, "ioapic"},
};

}  // namespace

uint64_t host_realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

uint64_t elapsed_since(uint64_t saved_realtime_ns) {
  uint64_t now = host_realtime_ns();
  return now > saved_realtime_ns ? now - saved_realtime_ns : 0;
}

StateNode save_vm_state(int vm_fd, const OptionalCaps& caps) {
  StateNode n;
  for (const auto& c : kChips) {
    kvm_irqchip chip{};
    chip.chip_id = c.id;
    xioctl(vm_fd, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP");
    put_struct(n, c.prop, chip);
  }
  kvm_pit_state2 pit{};
  xioctl(vm_fd, KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
  put_struct(n, "pit2", pit);
  // With KVM_CLOCK_REALTIME the kernel also returns the host wall clock at
  // the same instant as `clock` (api.rst 4.29), which restore uses to
  // advance the guest by the time the image spent on disk.
  kvm_clock_data clock{};
  xioctl(vm_fd, KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK");
  uint64_t host_now = host_realtime_ns();
  if (!caps.clock_realtime()) clock.flags &= ~uint32_t(KVM_CLOCK_REALTIME);
  put_struct(n, "clock", clock);
  // Our own reading of the host wall clock, for hosts whose KVM cannot pair
  // one with the guest clock (no KVM_CLOCK_REALTIME: e.g. a host whose
  // clocksource is not the TSC, as inside the QEMU-TCG sandbox).
  put_struct(n, "host_realtime_ns", host_now);
  return n;
}

void restore_vm_state(int vm_fd, const OptionalCaps& caps, const StateNode& n) {
  // Parse everything first so a bad image changes nothing.
  kvm_irqchip chips[3];
  for (int i = 0; i < 3; ++i) {
    chips[i] = get_struct<kvm_irqchip>(n, kNode, kChips[i].prop);
    if (chips[i].chip_id != kChips[i].id)
      bad_prop(kNode, kChips[i].prop, fmt::format("chip_id {} != {}", chips[i].chip_id, kChips[i].id));
  }
  auto pit = get_struct<kvm_pit_state2>(n, kNode, "pit2");
  auto clock = get_struct<kvm_clock_data>(n, kNode, "clock");

  for (auto& c : chips) xioctl(vm_fd, KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP");
  xioctl(vm_fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2");

  // api.rst 4.30 KVM_SET_CLOCK: with KVM_CLOCK_REALTIME, KVM adds the
  // host's CLOCK_REALTIME elapsed since `realtime` to `clock`, so the guest's
  // wall clock is right after a resume and its monotonic clock never goes
  // backwards. Otherwise the raw value: the guest clock resumes where it
  // stopped (a guest NTP client then corrects the wall clock).
  kvm_clock_data set{};
  set.clock = clock.clock;
  if ((clock.flags & KVM_CLOCK_REALTIME) && caps.clock_realtime()) {
    set.flags = KVM_CLOCK_REALTIME;
    set.realtime = clock.realtime;
  } else if (n.prop("host_realtime_ns")) {
    // The same correction done by hand: advance the guest clock by the host
    // wall time elapsed since the save (never backwards; an image from the
    // future, i.e. a host clock that went back, advances nothing).
    set.clock += elapsed_since(get_struct<uint64_t>(n, kNode, "host_realtime_ns"));
  }
  xioctl(vm_fd, KVM_SET_CLOCK, &set, "KVM_SET_CLOCK");
}

}  // namespace amber::kvm
