#include "kvm/vcpu_state.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "amber/log.h"
#include "kvm/cpu_features.h"
#include "kvm/fd.h"
#include "kvm/kvm_abi.h"
#include "kvm/msrs.h"
#include "kvm/state_props.h"
#include "kvm/tsc_rate.h"
#include "kvm/vm_state.h"

namespace amber::kvm {
namespace {

constexpr const char* kNode = "vcpu";

template <class T>
T get(int fd, unsigned long req, const char* name) {
  T v{};
  xioctl(fd, req, &v, name);
  return v;
}

const std::vector<uint32_t>& saved_msr_list(int fd, VmShared& vm) {
  std::lock_guard lock(vm.msr_mu);
  if (!vm.saved_msrs) {
    auto candidates = candidate_msrs(vm.sys->msr_index_list());
    vm.saved_msrs = filter_readable(candidates, [fd](std::span<kvm_msr_entry> e) -> size_t {
      MsrBuf buf(e.size());
      buf.get()->nmsrs = static_cast<uint32_t>(e.size());
      std::copy(e.begin(), e.end(), buf.entries());
      int n = ioctl_retry(fd, kKvmGetMsrs, buf.get());
      return n < 0 ? 0 : static_cast<size_t>(n);
    });
  }
  return *vm.saved_msrs;
}

// KVM_GET_MSRS in chunks of MAX_IO_MSRS; every listed MSR must be read.
MsrBuf read_msrs(int fd, const std::vector<uint32_t>& list) {
  MsrBuf all(list.size());
  all.get()->nmsrs = static_cast<uint32_t>(list.size());
  for (size_t pos = 0; pos < list.size(); pos += kMsrsPerIoctl) {
    size_t n = std::min(kMsrsPerIoctl, list.size() - pos);
    MsrBuf chunk(n);
    chunk.get()->nmsrs = static_cast<uint32_t>(n);
    for (size_t i = 0; i < n; ++i) chunk.entries()[i].index = list[pos + i];
    size_t got = static_cast<size_t>(xioctl(fd, kKvmGetMsrs, chunk.get(), "KVM_GET_MSRS"));
    if (got != n) throw Error(fmt::format("KVM_GET_MSRS: MSR {:#x} could not be read", list[pos + got]));
    std::copy(chunk.entries(), chunk.entries() + n, all.entries() + pos);
  }
  return all;
}

void write_msrs(int fd, const MsrBuf& msrs) {
  auto all = msrs.span();
  for (size_t pos = 0; pos < all.size(); pos += kMsrsPerIoctl) {
    size_t n = std::min(kMsrsPerIoctl, all.size() - pos);
    MsrBuf chunk(n);
    chunk.get()->nmsrs = static_cast<uint32_t>(n);
    std::copy(all.begin() + pos, all.begin() + pos + n, chunk.entries());
    size_t set = static_cast<size_t>(xioctl(fd, kKvmSetMsrs, chunk.get(), "KVM_SET_MSRS"));
    if (set != n) throw Error(fmt::format("KVM_SET_MSRS: MSR {:#x} was refused", all[pos + set].index));
  }
}

// The xsave property padded to this host's buffer size (api.rst 4.43
// KVM_SET_XSAVE reads KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) bytes when that is
// larger than struct kvm_xsave). Components beyond the saved size are absent
// from XSTATE_BV, so zero padding is their init state.
std::vector<uint64_t> xsave_for_host(const std::vector<uint8_t>& p, const OptionalCaps& caps) {
  size_t host = caps.xsave2_size ? caps.xsave2_size : kXsaveSize;
  if (p.size() < kXsaveSize || p.size() > host)
    bad_prop(kNode, "xsave", fmt::format("size {} is outside [{}, {}] (this host's XSAVE size)", p.size(),
                                         kXsaveSize, host));
  std::vector<uint64_t> buf((host + 7) / 8, 0);
  std::memcpy(buf.data(), p.data(), p.size());
  return buf;
}

uint32_t le32(const std::vector<uint8_t>& p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

namespace {

// KVM_GET_CPUID2: the table the vCPU holds; nullopt where it cannot be read.
std::optional<std::vector<kvm_cpuid_entry2>> get_vcpu_cpuid(int fd) {
  FlexBuf<CpuidHeader, kvm_cpuid_entry2> out(kMaxCpuidEntries);
  out.get()->nent = static_cast<uint32_t>(kMaxCpuidEntries);
  if (ioctl_retry(fd, kKvmGetCpuid2, out.get()) < 0 || out.get()->nent > kMaxCpuidEntries) {
    log::debug("KVM_GET_CPUID2: {}", std::strerror(errno));
    return std::nullopt;
  }
  auto got = out.span().first(out.get()->nent);
  return std::vector<kvm_cpuid_entry2>(got.begin(), got.end());
}

}  // namespace

std::vector<kvm_cpuid_entry2> set_vcpu_cpuid(int fd, std::span<const kvm_cpuid_entry2> table) {
  FlexBuf<CpuidHeader, kvm_cpuid_entry2> in(table.size());
  in.get()->nent = static_cast<uint32_t>(table.size());
  in.assign(table);
  xioctl(fd, kKvmSetCpuid2, in.get(), "KVM_SET_CPUID2");
  if (auto got = get_vcpu_cpuid(fd)) return *got;
  return {table.begin(), table.end()};  // keeping the table as set
}

namespace {

// The baseline is the table this host gave the fresh vCPU at creation (its
// supported CPUID, adjusted; PVM rewrites it, and its
// KVM_GET_SUPPORTED_CPUID lists far fewer features than it then grants),
// else KVM_GET_SUPPORTED_CPUID.
void check_cpu_features(int fd, const VmShared& vm, std::span<const kvm_cpuid_entry2> image) {
  auto host = get_vcpu_cpuid(fd);
  if (!host && vm.sys) host = vm.sys->supported_cpuid();
  if (!host) return;
  auto missing = missing_cpu_features(image, *host);
  if (missing.empty()) return;
  std::string list;
  for (auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  throw Error(fmt::format("this host's CPU, as KVM offers it, lacks {} feature{} the image's guest was given: {}; "
                          "resume the image on a host that has {}",
                          missing.size(), missing.size() == 1 ? "" : "s", list, missing.size() == 1 ? "it" : "them"));
}

// The image property "pdptrs": PDPTE 0..3, as in kvm_sregs2.
struct Pdptrs {
  uint64_t v[4];
};
static_assert(sizeof(Pdptrs) == sizeof(kvm_sregs2::pdptrs));

// KVM_SET_SREGS2's argument: the segment and control registers of `s`,
// and the PDPTRs marked valid.
kvm_sregs2 with_pdptrs(const kvm_sregs& s, const Pdptrs& pdptrs) {
  kvm_sregs2 s2{};
  s2.cs = s.cs, s2.ds = s.ds, s2.es = s.es, s2.fs = s.fs, s2.gs = s.gs, s2.ss = s.ss;
  s2.tr = s.tr, s2.ldt = s.ldt, s2.gdt = s.gdt, s2.idt = s.idt;
  s2.cr0 = s.cr0, s2.cr2 = s.cr2, s2.cr3 = s.cr3, s2.cr4 = s.cr4, s2.cr8 = s.cr8;
  s2.efer = s.efer, s2.apic_base = s.apic_base;
  s2.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
  std::memcpy(s2.pdptrs, pdptrs.v, sizeof s2.pdptrs);
  return s2;
}

}  // namespace

StateNode save_vcpu_state(int fd, VmShared& vm, std::span<const kvm_cpuid_entry2> cpuid) {
  const auto& caps = vm.caps;
  StateNode n;
  // MP_STATE first: KVM_GET_MP_STATE runs kvm_apic_accept_events(), which
  // can change the LAPIC and the registers (a pending INIT/SIPI); everything
  // read after it is consistent with it (Firecracker vcpu.rs save_state).
  put_struct(n, "mp_state", get<kvm_mp_state>(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE"));
  put_struct(n, "regs", get<kvm_regs>(fd, KVM_GET_REGS, "KVM_GET_REGS"));
  put_struct(n, "sregs", get<kvm_sregs>(fd, KVM_GET_SREGS, "KVM_GET_SREGS"));
  // A PAE guest's PDPTRs: the CPU loaded them when CR3 was written, and
  // KVM_SET_SREGS would reload them from guest memory, which the guest may
  // have changed since (Intel SDM vol. 3A 4.4.1). Only KVM_GET_SREGS2 reads
  // them; KVM marks them valid only while the guest is in PAE paging.
  if (caps.sregs2) {
    auto s2 = get<kvm_sregs2>(fd, KVM_GET_SREGS2, "KVM_GET_SREGS2");
    if (s2.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) {
      Pdptrs p;
      std::memcpy(p.v, s2.pdptrs, sizeof p.v);
      put_struct(n, "pdptrs", p);
    }
  }
  if (caps.xsave2_size) {
    std::vector<uint64_t> buf((caps.xsave2_size + 7) / 8, 0);
    xioctl(fd, kKvmGetXsave2, buf.data(), "KVM_GET_XSAVE2");
    auto* p = reinterpret_cast<const uint8_t*>(buf.data());
    n.props["xsave"] = std::vector<uint8_t>(p, p + caps.xsave2_size);
  } else if (caps.xsave) {
    put_struct(n, "xsave", get<XsaveArea>(fd, kKvmGetXsave, "KVM_GET_XSAVE"));
  } else {
    put_struct(n, "fpu", get<kvm_fpu>(fd, KVM_GET_FPU, "KVM_GET_FPU"));
  }
  if (caps.xcrs) put_struct(n, "xcrs", get<kvm_xcrs>(fd, KVM_GET_XCRS, "KVM_GET_XCRS"));
  if (caps.debugregs) put_struct(n, "debugregs", get<kvm_debugregs>(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"));
  put_struct(n, "lapic", get<kvm_lapic_state>(fd, KVM_GET_LAPIC, "KVM_GET_LAPIC"));
  n.props["msrs"] = read_msrs(fd, saved_msr_list(fd, vm)).to_bytes();
  // When IA32_TSC was read, for advancing it by the time the image spends
  // on disk (restore_vcpu_state).
  put_struct(n, "host_realtime_ns", host_realtime_ns());

  FlexBuf<CpuidHeader, kvm_cpuid_entry2> cp(cpuid.size());
  cp.get()->nent = static_cast<uint32_t>(cpuid.size());
  cp.assign(cpuid);
  n.props["cpuid"] = cp.to_bytes();

  if (caps.get_tsc_khz) {
    uint32_t khz = static_cast<uint32_t>(xioctl(fd, KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ"));
    n.props["tsc_khz"] = {uint8_t(khz), uint8_t(khz >> 8), uint8_t(khz >> 16), uint8_t(khz >> 24)};
  }
  // VCPU_EVENTS last: pending exceptions/NMIs/interrupt shadow as of the
  // very end, after every other read that might have touched them.
  if (caps.vcpu_events)
    put_struct(n, "vcpu_events", get<kvm_vcpu_events>(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"));
  return n;
}

std::vector<kvm_cpuid_entry2> restore_vcpu_state(int fd, const VmShared& vm, const StateNode& n) {
  const auto& caps = vm.caps;
  // 1. Validate and decode every property: a bad image changes nothing.
  auto cpuid = get_flex<CpuidHeader, kvm_cpuid_entry2>(n, kNode, "cpuid", kMaxCpuidEntries,
                                                      [](const CpuidHeader& h) { return h.nent; });
  std::optional<uint32_t> tsc_khz;
  if (auto* p = n.prop("tsc_khz")) {
    if (p->size() != 4) bad_prop(kNode, "tsc_khz", fmt::format("size {} != 4", p->size()));
    tsc_khz = le32(*p);
  }
  auto mp = get_struct<kvm_mp_state>(n, kNode, "mp_state");
  auto regs = get_struct<kvm_regs>(n, kNode, "regs");
  auto sregs = get_struct<kvm_sregs>(n, kNode, "sregs");
  std::optional<Pdptrs> pdptrs;
  if (n.prop("pdptrs")) pdptrs = get_struct<Pdptrs>(n, kNode, "pdptrs");
  std::vector<uint64_t> xsave;
  std::optional<kvm_fpu> fpu;
  if (auto* p = n.prop("xsave")) {
    if (!caps.xsave) throw Error("image has XSAVE state but this host's KVM lacks KVM_CAP_XSAVE");
    xsave = xsave_for_host(*p, caps);
  } else {
    fpu = get_struct<kvm_fpu>(n, kNode, "fpu");
  }
  std::optional<kvm_xcrs> xcrs;
  if (n.prop("xcrs")) {
    if (!caps.xcrs) throw Error("image has XCR state but this host's KVM lacks KVM_CAP_XCRS");
    xcrs = get_struct<kvm_xcrs>(n, kNode, "xcrs");
    if (xcrs->nr_xcrs > KVM_MAX_XCRS) bad_prop(kNode, "xcrs", fmt::format("nr_xcrs {} > {}", xcrs->nr_xcrs, KVM_MAX_XCRS));
  }
  std::optional<kvm_debugregs> dregs;
  if (n.prop("debugregs")) {
    if (!caps.debugregs) throw Error("image has debug registers but this host's KVM lacks KVM_CAP_DEBUGREGS");
    dregs = get_struct<kvm_debugregs>(n, kNode, "debugregs");
  }
  auto lapic = get_struct<kvm_lapic_state>(n, kNode, "lapic");
  auto msrs = get_flex<MsrsHeader, kvm_msr_entry>(n, kNode, "msrs", kMaxSavedMsrs,
                                                [](const MsrsHeader& h) { return h.nmsrs; });
  std::optional<uint64_t> saved_at;
  if (n.prop("host_realtime_ns")) saved_at = get_struct<uint64_t>(n, kNode, "host_realtime_ns");
  std::optional<kvm_vcpu_events> events;
  if (n.prop("vcpu_events")) events = get_struct<kvm_vcpu_events>(n, kNode, "vcpu_events");

  // Pre-flight, after the image checks and before any change: a feature the
  // guest was shown but this host lacks would be a #UD (or worse) whenever
  // the guest next uses it.
  check_cpu_features(fd, vm, cpuid.span());

  // 2. Apply, in the order of docs/vcpu-state.md.
  // The TSC rate first, before any TSC value (KVM scales TSC writes by it)
  // and before the vCPU first runs, and as the last pre-flight: a rate the
  // guest relies on and this host cannot give refuses the resume
  // (tsc_rate.h). Per vCPU: the VM-wide KVM_SET_TSC_KHZ
  // (KVM_CAP_VM_TSC_CONTROL) only sets the default for vCPUs created later.
  if (tsc_khz && caps.get_tsc_khz) {
    TscRateFacts f;
    f.image_khz = *tsc_khz;
    f.host_khz = static_cast<uint32_t>(xioctl(fd, KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ"));
    f.tsc_control = caps.tsc_control;
    f.guest_relies_on_rate = shows_invariant_tsc(cpuid.span());
    std::string warning;
    reconcile_tsc_rate(
        f,
        [fd](uint32_t khz) {
          return ioctl_retry(fd, KVM_SET_TSC_KHZ, static_cast<unsigned long>(khz)) < 0 ? -errno : 0;
        },
        &warning);
    if (!warning.empty()) log::warn("{}", warning);
  }
  // CPUID next: it decides which MSRs, XSAVE components and CR4 bits the
  // later ioctls accept.
  auto effective_cpuid = set_vcpu_cpuid(fd, cpuid.span());
  xioctl(fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
  xioctl(fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
  if (pdptrs && caps.sregs2 && caps.vcpu_events) {
    // SREGS2 has no interrupt bitmap: an injected interrupt comes back
    // through KVM_SET_VCPU_EVENTS below.
    kvm_sregs2 s2 = with_pdptrs(sregs, *pdptrs);
    xioctl(fd, KVM_SET_SREGS2, &s2, "KVM_SET_SREGS2");
  } else {
    if (pdptrs)
      log::warn("the image's PAE guest had its PDPTRs saved, but this host's KVM cannot set them "
                "(no KVM_CAP_SREGS2): they are reloaded from guest memory");
    xioctl(fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
  }
  if (fpu)
    xioctl(fd, KVM_SET_FPU, &*fpu, "KVM_SET_FPU");
  else
    xioctl(fd, kKvmSetXsave, xsave.data(), "KVM_SET_XSAVE");
  if (xcrs) xioctl(fd, KVM_SET_XCRS, &*xcrs, "KVM_SET_XCRS");
  if (dregs) xioctl(fd, KVM_SET_DEBUGREGS, &*dregs, "KVM_SET_DEBUGREGS");
  // LAPIC after SREGS: KVM_SET_SREGS writes the APIC base MSR, which resets
  // the LAPIC mode.
  // Twice: KVM_SET_LAPIC recomputes the PPR (kvm_apic_set_state:
  // apic_update_ppr) before it recounts the ISR for the new state
  // (kvm_apic_update_apicv sets isr_count afterwards), so on a fresh vCPU an
  // interrupt in service at the save came back with PPR 0 instead of its
  // priority class until the next KVM_RUN; a save in between did not give
  // back the image (kvm_tests KvmRoundTrip.LapicTimerArmedAtTheSaveFiresOnce).
  // The second call finds the ISR counted. It re-arms the timer from the same
  // TMCCT and resets KVM's pending-tick count first, so the timer is no
  // different from one call.
  xioctl(fd, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
  xioctl(fd, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
  // MSRs after the LAPIC: a TSC_DEADLINE write is dropped unless the LAPIC
  // timer is already in TSC-deadline mode. TSC first, TSC_DEADLINE last.
  // The TSC moves on by the time on disk, like the kvm-clock (restore_vm_state):
  // a Linux guest on an invariant TSC uses it as its clocksource and would
  // otherwise be behind by that time. The vCPUs' writes land within KVM's
  // one-second window, so KVM gives them one offset (kvm_synchronize_tsc).
  if (saved_at) {
    uint32_t khz = tsc_khz.value_or(0);
    if (caps.get_tsc_khz) khz = static_cast<uint32_t>(xioctl(fd, KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ"));
    advance_tsc(msrs.span(), elapsed_since(*saved_at), khz);
  }
  order_for_restore(msrs.span());
  write_msrs(fd, msrs);
  // The flags are passed back as KVM_GET_VCPU_EVENTS set them
  // (NMI_PENDING | SHADOW | SMM): KVM reports sipi_vector as never valid, so
  // VALID_SIPI_VECTOR is not added (api.rst KVM_SET_VCPU_EVENTS).
  if (events) xioctl(fd, KVM_SET_VCPU_EVENTS, &*events, "KVM_SET_VCPU_EVENTS");
  // api.rst 4.72 KVM_KVMCLOCK_CTRL: tells the guest it was paused, so its
  // soft-lockup watchdog does not fire. EINVAL = the guest has no kvmclock.
  if (caps.kvmclock_ctrl && ioctl_retry(fd, KVM_KVMCLOCK_CTRL, 0UL) < 0 && errno != EINVAL)
    throw SysError("KVM_KVMCLOCK_CTRL", errno);
  return effective_cpuid;
}

}  // namespace amber::kvm
