#pragma once
// Test support (issue 11, "Resume must be exact"): compares two saves of the
// same VM, vCPU or whole Machine property by property. Only time may differ,
// and each time-derived value is excluded by name below; anything else that
// differs is reported with its property, offset and bytes. Used by the
// KvmRoundTrip.* tests (src/kvm/kvm_roundtrip_test.cpp) and the in-flight
// device round trips (src/vmm/inflight_kvm_test.cpp).
#include <linux/kvm.h>

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "amber/state.h"
#include "kvm/kvm_abi.h"

namespace amber::kvm::test {

template <class Header, class Entry>
std::span<const Entry> entries_of(const std::vector<uint8_t>& prop) {
  return {reinterpret_cast<const Entry*>(prop.data() + sizeof(Header)), (prop.size() - sizeof(Header)) / sizeof(Entry)};
}

inline std::string byte_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return fmt::format("size {} != {}", a.size(), b.size());
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ++n <= 8) out += fmt::format(" [{:#x}] {:#04x}->{:#04x}", i, a[i], b[i]);
  return n ? fmt::format("{} byte(s) differ:{}", n, out) : "";
}

inline constexpr uint32_t kMsrIa32Tsc = 0x10;
inline constexpr uint32_t kMsrHvVpRuntime = 0x40000010;
inline constexpr uint32_t kMsrHvTimeRefCount = 0x40000020;
inline constexpr size_t kApicTmcct = 0x390;  // LAPIC current count (SDM vol. 3A table 10-1)

// Why each property, or part of one, is left out of the comparison. Only
// time: everything else a save holds must come back bit for bit. `node` is
// "vm" or "vcpu"; any other node is compared byte for byte.
inline std::string diff_prop(std::string_view node, const std::string& name, std::vector<uint8_t> a,
                             std::vector<uint8_t> b) {
  if (node == "vm" || node == "vcpu") {
    // host_realtime_ns (VM and vCPU): the host's wall clock at the save.
    if (name == "host_realtime_ns") return "";
  }
  // vm/clock: the guest's kvm-clock runs, and restore advances it by the
  // host time since the save (docs/vcpu-state.md "VM save/restore").
  if (node == "vm" && name == "clock") return "";
  // vm/pit2: each channel's count_load_time is the host ktime at which KVM
  // loaded its count; KVM_SET_PIT2 loads the counts again, at the time of the
  // restore (kvm_pit_load_count). The rest of the PIT must be the same.
  if (node == "vm" && name == "pit2" && a.size() == sizeof(kvm_pit_state2) && b.size() == a.size()) {
    for (auto* p : {&a, &b}) {
      auto* pit = reinterpret_cast<kvm_pit_state2*>(p->data());
      for (auto& c : pit->channels) c.count_load_time = 0;
    }
  }
  // vcpu/lapic: TMCCT, the timer's current count, is computed at KVM_GET_LAPIC
  // from the time left on a running timer (apic_get_tmcct).
  if (node == "vcpu" && name == "lapic" && a.size() == sizeof(kvm_lapic_state) && b.size() == a.size()) {
    std::memset(a.data() + kApicTmcct, 0, 4);
    std::memset(b.data() + kApicTmcct, 0, 4);
  }
  // vcpu/msrs, by index (every other MSR must match, in the same list):
  // - IA32_TSC (0x10): the TSC runs, and restore advances it by the host
  //   time since the save (docs/vcpu-state.md "Restore");
  // - HV_X64_MSR_VP_RUNTIME (0x40000010): KVM's Hyper-V emulation reads it
  //   as the CPU time of the task that reads it plus an offset set by the
  //   last write (kvm_hv_get_msr: current_task_runtime_100ns), so it moves
  //   between any two reads;
  // - HV_X64_MSR_TIME_REF_COUNT (0x40000020): the Hyper-V reference counter,
  //   derived from the kvm-clock (get_time_ref_counter), read-only (KVM
  //   ignores the host's write) and advanced like the clock.
  if (node == "vcpu" && name == "msrs") {
    if (a.size() != b.size()) return fmt::format("size {} != {}", a.size(), b.size());
    auto ea = entries_of<MsrsHeader, kvm_msr_entry>(a), eb = entries_of<MsrsHeader, kvm_msr_entry>(b);
    std::string out;
    for (size_t i = 0; i < ea.size(); ++i) {
      if (ea[i].index != eb[i].index)
        out += fmt::format(" entry {}: MSR {:#x} != {:#x}", i, ea[i].index, eb[i].index);
      else if (ea[i].index != kMsrIa32Tsc && ea[i].index != kMsrHvVpRuntime && ea[i].index != kMsrHvTimeRefCount &&
               ea[i].data != eb[i].data)
        out += fmt::format(" MSR {:#x}: {:#x} -> {:#x}", ea[i].index, ea[i].data, eb[i].data);
    }
    return out;
  }
  return byte_diff(a, b);
}

// Every property of `a` and `b` (two saves of the same vCPU or VM) that
// differs, with what differs.
inline std::vector<std::string> state_diff(std::string_view node, const StateNode& a, const StateNode& b) {
  std::vector<std::string> out;
  for (auto& [name, value] : a.props) {
    auto* other = b.prop(name);
    if (!other) {
      out.push_back(name + ": missing from the second save");
      continue;
    }
    if (auto d = diff_prop(node, name, value, *other); !d.empty()) out.push_back(name + ": " + d);
  }
  for (auto& [name, value] : b.props)
    if (!a.prop(name)) out.push_back(name + ": only in the second save");
  return out;
}

// A whole Machine's state node (src/vmm/machine_snapshot.cpp: config, vcpus/
// vcpu@N, vm, devices/...): `vm` and each `vcpus/vcpu@N` as state_diff does,
// every other node, the devices included, byte for byte, recursively. Each
// entry names its path ("devices/virtio-blk@0/queue#0/used_idx: ...").
inline std::vector<std::string> machine_diff(const StateNode& a, const StateNode& b, const std::string& path = "") {
  std::vector<std::string> out;
  std::string_view kind = path == "vm/" ? "vm" : path.starts_with("vcpus/vcpu@") ? "vcpu" : "";
  for (auto& d : state_diff(kind, a, b)) out.push_back(path + d);
  for (auto& [name, child] : a.children) {
    auto* other = b.child(name);
    if (!other) {
      out.push_back(path + name + "/: missing from the second save");
      continue;
    }
    for (auto& d : machine_diff(child, *other, path + name + "/")) out.push_back(std::move(d));
  }
  for (auto& [name, child] : b.children)
    if (!a.child(name)) out.push_back(path + name + "/: only in the second save");
  return out;
}

}  // namespace amber::kvm::test
