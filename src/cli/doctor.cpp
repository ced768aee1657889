#include "cli/doctor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <variant>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/mapping.h"
#include "amber/unique_fd.h"
#include "api/json.h"
#include "kvm/caps.h"
#include "kvm/kvm_hypervisor.h"

namespace amber::cli {
namespace {

constexpr const char* kSandboxAdvice =
    "run Linux guests on a machine with VT-x or AMD-V (kvm_intel or kvm_amd), or inside the "
    "QEMU-TCG sandbox: tools/kvm-sandbox.sh -- amber run ... (docs/sandbox.md)";

// The probe guest, 16-bit real mode at kProbeRip: mov al, 0x42; out 0x80, al;
// then spin. One exit to userspace proves VM, memory slot, vCPU and KVM_RUN
// work; it never halts (with the in-kernel irqchip a HLT would not exit).
constexpr uint64_t kProbeRip = 0x1000;
constexpr uint8_t kProbeCode[] = {0xb0, 0x42, 0xe6, 0x80, 0xeb, 0xfe};
constexpr int kProbeTimeoutMs = 5000;

CpuBootState probe_boot_state() {
  CpuBootState s;
  s.mode = CpuBootState::Mode::kReal;
  s.rip = kProbeRip;
  s.cr0 = 0x60000010;  // the reset value (Intel SDM vol. 3A, 10.1.1)
  s.cs = {0, 0xffff, 0, 0xb, 1, 0, 0, 1, 0, 0};
  s.ds = {0, 0xffff, 0, 0x3, 1, 0, 0, 1, 0, 0};
  s.idt_limit = 0x3ff;
  return s;
}

// Runs in the probe child: "" on success, else what went wrong.
std::string run_probe_guest(const std::string& device) {
  try {
    kvm::KvmHypervisor hv(device);
    auto vm = hv.create_vm();
    Mapping mem = Mapping::anonymous(64 << 10);
    std::memcpy(mem.data() + kProbeRip, kProbeCode, sizeof kProbeCode);
    vm->add_memory({0, 0, mem.size(), mem.data()});
    auto vcpu = vm->create_vcpu(0, 1);
    vcpu->set_boot_state(probe_boot_state());
    auto exit = vcpu->run();
    auto* out = std::get_if<hv::IoOut>(&exit);
    if (!out) return fmt::format("the probe guest's first exit was not its port write (exit kind {})", exit.index());
    if (out->port != 0x80 || out->data.size() != 1 || out->data[0] != 0x42)
      return fmt::format("the probe guest wrote to port {:#x}, not 0x42 to 0x80", out->port);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// The probe in a child process, so that a KVM which never returns from
// KVM_RUN costs kProbeTimeoutMs, not a hang.
void probe(DoctorFacts& f) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    f.probe_error = fmt::format("pipe: {}", std::strerror(errno));
    return;
  }
  UniqueFd rd(fds[0]), wr(fds[1]);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    f.probe_error = fmt::format("fork: {}", std::strerror(errno));
    return;
  }
  if (pid == 0) {
    std::string err = run_probe_guest(f.device);
    std::string msg = err.empty() ? "ok" : "error: " + err;
    (void)!::write(wr.get(), msg.data(), msg.size());
    ::_exit(0);
  }
  wr.reset();
  f.probe_ran = true;
  std::string msg;
  pollfd p{rd.get(), POLLIN, 0};
  for (;;) {
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    int left = kProbeTimeoutMs - int(waited.count());
    if (left <= 0 || ::poll(&p, 1, left) == 0) {
      ::kill(pid, SIGKILL);
      f.probe_error = fmt::format("the probe guest made no exit within {} s", kProbeTimeoutMs / 1000);
      break;
    }
    char buf[512];
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    msg.append(buf, size_t(n));
  }
  ::waitpid(pid, nullptr, 0);
  f.probe_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!f.probe_error.empty()) return;
  if (msg == "ok") f.probe_ok = true;
  else f.probe_error = msg.rfind("error: ", 0) == 0 ? msg.substr(7) : "the probe process ended without an answer";
}

std::string caps_json(const std::vector<kvm::NamedCap>& caps) {
  api::JsonWriter w;
  for (auto& c : caps) w.boolean(c.name, c.present);
  return w.done();
}

}  // namespace

DoctorReport assess(const DoctorFacts& f) {
  DoctorReport r;
  if (f.open_errno != 0 || !f.open_error.empty()) {
    r.backend = "none";
    r.reason = fmt::format("{} is not usable: {}", f.device, f.open_error);
    r.advice = "run amber inside the QEMU-TCG sandbox: tools/kvm-sandbox.sh -- amber ... (docs/sandbox.md)";
    return r;
  }
  kvm::KvmBackend b = kvm::classify_backend(f.backend);
  r.backend = kvm::backend_name(b);
  std::string missing;
  for (auto& c : f.required_caps)
    if (!c.present) missing += (missing.empty() ? "" : ", ") + c.name;
  r.usable = missing.empty();
  if (!r.usable) {
    r.reason = fmt::format("this KVM lacks {}, which amber needs", missing);
    r.advice = kSandboxAdvice;
    return r;
  }
  r.bare_metal_guests = !f.probe_ran || f.probe_ok;
  if (f.probe_ran && !f.probe_ok) {
    r.reason = fmt::format("the probe guest failed: {}", f.probe_error);
    r.advice = kSandboxAdvice;
    return r;
  }
  switch (b) {
    case kvm::KvmBackend::intel:
    case kvm::KvmBackend::amd:
      r.linux_guests = true;
      r.reason = fmt::format("hardware virtualisation ({}) runs unmodified Linux kernels",
                             b == kvm::KvmBackend::intel ? "VT-x, kvm_intel" : "AMD-V, kvm_amd");
      break;
    case kvm::KvmBackend::pvm:
      r.reason =
          "this /dev/kvm is PVM (kvm_pvm: virtualisation without VT-x/AMD-V); it runs bare-metal guests, "
          "but an unmodified Linux kernel does not boot on it (a bzImage prints nothing, a PVH vmlinux "
          "stops with an emulation failure)";
      r.advice = kSandboxAdvice;
      break;
    case kvm::KvmBackend::unknown:
      r.reason = "no known KVM vendor module (kvm_intel, kvm_amd, kvm_pvm) is loaded and the CPU shows "
                 "neither VMX nor SVM, so whether Linux boots here is unknown";
      r.advice = kSandboxAdvice;
      break;
  }
  return r;
}

DoctorFacts gather_doctor_facts(const std::string& device, bool run_probe) {
  DoctorFacts f;
  f.device = device;
  f.backend = kvm::read_backend_facts();
  std::unique_ptr<kvm::KvmSystem> sys;
  try {
    sys = std::make_unique<kvm::KvmSystem>(device);
  } catch (const SysError& e) {
    f.open_errno = e.code() ? e.code() : EIO;
    f.open_error = e.what();
    return f;
  } catch (const Error& e) {
    f.open_error = e.what();  // it opened, but KVM refused (API version, ...)
    return f;
  }
  f.api_version = kvm::KvmSystem::kApiVersion;  // the constructor checked it
  auto cap = [&](long c) { return sys->check_capability(c); };
  f.required_caps = kvm::list_required_caps(cap);
  f.optional_caps = kvm::list_optional_caps(cap);
  sys.reset();
  bool all_required = true;
  for (auto& c : f.required_caps) all_required = all_required && c.present;
  if (run_probe && all_required) probe(f);
  return f;
}

std::string render_doctor_text(const DoctorFacts& f, const DoctorReport& r) {
  std::string s = fmt::format("KVM:               {}\n", r.backend);
  s += fmt::format("device:            {}{}\n", f.device,
                   f.open_error.empty() ? fmt::format(" (API version {})", f.api_version) : " (" + f.open_error + ")");
  s += fmt::format("vendor modules:    kvm_intel {}, kvm_amd {}, kvm_pvm {}\n", f.backend.intel_module ? "yes" : "no",
                   f.backend.amd_module ? "yes" : "no", f.backend.pvm_module ? "yes" : "no");
  s += fmt::format("CPU:               VMX {}, SVM {}\n", f.backend.cpu_vmx ? "yes" : "no", f.backend.cpu_svm ? "yes" : "no");
  auto list = [](const std::vector<kvm::NamedCap>& caps) {
    std::string out;
    for (auto& c : caps) out += fmt::format(" {}{}", c.present ? "+" : "-", c.name.substr(8));
    return out;
  };
  if (!f.required_caps.empty()) s += "required caps:    " + list(f.required_caps) + "\n";
  if (!f.optional_caps.empty()) s += "optional caps:    " + list(f.optional_caps) + "\n";
  if (f.probe_ran)
    s += f.probe_ok ? fmt::format("probe guest:       ran ({:.1f} ms)\n", f.probe_ms)
                    : fmt::format("probe guest:       FAILED: {}\n", f.probe_error);
  s += fmt::format("bare-metal guests: {}\n", r.bare_metal_guests ? "yes" : "no");
  s += fmt::format("Linux guests:      {}\n", r.linux_guests ? "yes" : "no");
  s += fmt::format("why:               {}\n", r.reason);
  if (!r.advice.empty()) s += fmt::format("what to do:        {}\n", r.advice);
  return s;
}

std::string render_doctor_json(const DoctorFacts& f, const DoctorReport& r) {
  api::JsonWriter modules;
  modules.boolean("kvm_intel", f.backend.intel_module)
      .boolean("kvm_amd", f.backend.amd_module)
      .boolean("kvm_pvm", f.backend.pvm_module);
  api::JsonWriter cpu;
  cpu.boolean("vmx", f.backend.cpu_vmx).boolean("svm", f.backend.cpu_svm);
  api::JsonWriter kvm;
  kvm.str("backend", r.backend)
      .str("device", f.device)
      .boolean("usable", r.usable)
      .uint("api_version", uint64_t(f.api_version < 0 ? 0 : f.api_version))
      .raw("modules", modules.done())
      .raw("cpu", cpu.done())
      .raw("required_caps", caps_json(f.required_caps))
      .raw("optional_caps", caps_json(f.optional_caps));
  if (!f.open_error.empty()) kvm.str("error", f.open_error);
  api::JsonWriter probe;
  probe.boolean("ran", f.probe_ran).boolean("ok", f.probe_ok);
  if (f.probe_ran) probe.num("ms", f.probe_ms);
  if (!f.probe_error.empty()) probe.str("error", f.probe_error);
  api::JsonWriter w;
  w.raw("kvm", kvm.done())
      .raw("probe_guest", probe.done())
      .boolean("bare_metal_guests", r.bare_metal_guests)
      .boolean("linux_guests", r.linux_guests)
      .str("reason", r.reason);
  if (!r.advice.empty()) w.str("advice", r.advice);
  return w.done() + "\n";
}

void require_linux_capable_kvm(const std::string& device) {
  DoctorFacts f = gather_doctor_facts(device, false);
  DoctorReport r = assess(f);
  if (r.linux_guests) return;
  throw Error(fmt::format("this machine's KVM cannot run a Linux guest: {}.\n  What to do: {}; or pass --force-kvm "
                          "to try anyway ('amber doctor' has the details)",
                          r.reason, r.advice));
}

}  // namespace amber::cli
