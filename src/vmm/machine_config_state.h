#pragma once
// The machine's configuration as saved in an image (/machine/config), so a
// resume rebuilds the same VM without the original command line.
#include <string>
#include <vector>

#include "amber/layout.h"
#include "vmm/machine.h"

namespace amber::vmm {

struct DiskConfigState {
  std::string name, id;
  bool read_only = false;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("name", s.name, 32)("id", s.id, 64)("read-only", s.read_only);
  }
  bool operator==(const DiskConfigState&) const = default;
};

struct ConfigState {
  uint32_t cpus = 1;
  uint64_t mem_bytes = 0;
  std::string cmdline;
  std::vector<DiskConfigState> disks;
  bool rng = false;  // absent in images made before virtio-rng: no device
  // Absent in images made while the control port was at 0x510: it stays
  // there for their guests (docs/api.md).
  uint16_t ctl_port = layout::kAmberCtlPortLegacy;
  uint16_t debug_exit_port = 0;  // absent in older images: no debug-exit device
  // MachineConfig::kernel_format; absent in older images (is_linux_guest).
  std::string kernel_format;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("cpus", s.cpus)("mem-bytes", s.mem_bytes)("cmdline", s.cmdline, 4096)("disks", s.disks, 16)("rng", s.rng);
    ar("ctl_port", s.ctl_port)("debug_exit_port", s.debug_exit_port)("kernel_format", s.kernel_format, 16);
  }
  bool operator==(const ConfigState&) const = default;
};

inline ConfigState to_state(const MachineConfig& c) {
  ConfigState s{c.cpus, c.mem_bytes, c.cmdline, {}, c.rng};
  s.ctl_port = c.ctl_port;
  s.debug_exit_port = c.debug_exit_port;
  s.kernel_format = c.kernel_format;
  for (auto& d : c.disks) s.disks.push_back({d.name, d.id, d.read_only});
  return s;
}

inline MachineConfig from_state(const ConfigState& s) {
  MachineConfig c;
  c.cpus = s.cpus;
  c.mem_bytes = s.mem_bytes;
  c.cmdline = s.cmdline;
  c.rng = s.rng;
  c.ctl_port = s.ctl_port;
  c.debug_exit_port = s.debug_exit_port;
  c.kernel_format = s.kernel_format;
  for (auto& d : s.disks) c.disks.push_back({d.name, d.id, d.read_only});
  return c;
}

// Whether the saved guest is Linux, so needs a KVM that runs Linux (amber
// doctor): a bzImage or PVH kernel. Images made before the format was
// recorded: those with a kernel command line (bare-metal guests have none).
inline bool is_linux_guest(const ConfigState& s) {
  if (s.kernel_format.empty()) return !s.cmdline.empty();
  return s.kernel_format != "multiboot";
}

}  // namespace amber::vmm
