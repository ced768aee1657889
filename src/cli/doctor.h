#pragma once
// `amber doctor`: which KVM this machine has, the capabilities amber relies
// on, and what guests can run here (docs/cli.md). The same assessment guards
// `amber run --kernel`, so a KVM that cannot run Linux fails fast instead of
// spinning silently (issue: PVM hangs the demo).
#include <string>
#include <vector>

#include "kvm/backend.h"
#include "kvm/caps.h"

namespace amber::cli {

// What was read from the machine (gather_doctor_facts) or made up by a test.
struct DoctorFacts {
  std::string device = "/dev/kvm";
  int open_errno = 0;        // 0: the device opened
  std::string open_error;    // when it did not, or KVM refused to start
  int api_version = 0;
  kvm::BackendFacts backend;
  std::vector<kvm::NamedCap> required_caps;
  std::vector<kvm::NamedCap> optional_caps;
  // The probe guest: a real-mode guest that writes one byte to a port.
  bool probe_ran = false, probe_ok = false;
  double probe_ms = 0;
  std::string probe_error;
};

struct DoctorReport {
  std::string backend;  // "intel", "amd", "pvm", "unknown", or "none" (no usable device)
  bool usable = false;  // amber can create VMs here (device, API version, required caps)
  bool bare_metal_guests = false;
  bool linux_guests = false;
  std::string reason;   // one sentence: why Linux guests can or cannot run
  std::string advice;   // what to do when they cannot; empty otherwise
};

// Pure: the decision, from facts alone.
DoctorReport assess(const DoctorFacts& f);

// Reads the device, the vendor module and the capabilities; runs the probe
// guest (in a child process with a time limit) when `probe` is set.
DoctorFacts gather_doctor_facts(const std::string& device, bool probe);

std::string render_doctor_text(const DoctorFacts& f, const DoctorReport& r);
std::string render_doctor_json(const DoctorFacts& f, const DoctorReport& r);

// For `amber run --kernel`: throws Error with the doctor's reason and advice
// when this machine's KVM cannot run a Linux guest. Reads facts only (no
// probe guest), so it costs a few system calls.
void require_linux_capable_kvm(const std::string& device);

}  // namespace amber::cli
