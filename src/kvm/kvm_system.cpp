#include "kvm/kvm_system.h"

#include <fcntl.h>

#include <fmt/core.h>

#include "kvm/flex_buf.h"
#include "kvm/kvm_abi.h"

namespace amber::kvm {
namespace {

std::string advice(int err) {
  switch (err) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return "this machine has no KVM; run amber inside tools/kvm-sandbox.sh (docs/sandbox.md)";
    case EACCES:
    case EPERM:
      return "add your user to the 'kvm' group, or run amber inside tools/kvm-sandbox.sh (docs/sandbox.md)";
    default:
      return "KVM is unusable here; run amber inside tools/kvm-sandbox.sh (docs/sandbox.md)";
  }
}

// api.rst 4.46 KVM_GET_SUPPORTED_CPUID: E2BIG until nent is large enough.
std::vector<kvm_cpuid_entry2> read_supported_cpuid(int fd) {
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    FlexBuf<CpuidHeader, kvm_cpuid_entry2> buf(n);
    buf.get()->nent = n;
    if (ioctl_retry(fd, kKvmGetSupportedCpuid, buf.get()) == 0) {
      auto s = buf.span().first(buf.get()->nent);
      return {s.begin(), s.end()};
    }
    if (errno != E2BIG) throw SysError("KVM_GET_SUPPORTED_CPUID", errno);
  }
  throw Error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

// api.rst 4.3 KVM_GET_MSR_INDEX_LIST: E2BIG tells the needed nmsrs.
std::vector<uint32_t> read_msr_index_list(int fd) {
  MsrListHeader probe{};
  if (ioctl_retry(fd, kKvmGetMsrIndexList, &probe) < 0 && errno != E2BIG)
    throw SysError("KVM_GET_MSR_INDEX_LIST", errno);
  uint32_t n = probe.nmsrs;
  if (n > 4096) throw Error(fmt::format("KVM_GET_MSR_INDEX_LIST: implausible count {}", n));
  FlexBuf<MsrListHeader, uint32_t> buf(n);
  buf.get()->nmsrs = n;
  xioctl(fd, kKvmGetMsrIndexList, buf.get(), "KVM_GET_MSR_INDEX_LIST");
  auto s = buf.span().first(std::min<uint32_t>(n, buf.get()->nmsrs));
  return {s.begin(), s.end()};
}

}  // namespace

KvmSystem::KvmSystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(fmt::format("cannot open {}: {} — {}", path, std::strerror(err), advice(err)));
  }
  fd_.reset(fd);
  int version = xioctl(fd, KVM_GET_API_VERSION, "KVM_GET_API_VERSION");
  if (version != kApiVersion)
    throw Error(fmt::format("{}: KVM API version {} is not the stable {}", path, version, kApiVersion));
  int sz = xioctl(fd, KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(sz) < sizeof(kvm_run))
    throw Error(fmt::format("KVM_GET_VCPU_MMAP_SIZE: {} is smaller than struct kvm_run", sz));
  mmap_size_ = static_cast<size_t>(sz);
  cpuid_ = read_supported_cpuid(fd);
  msr_list_ = read_msr_index_list(fd);
}

int KvmSystem::check_capability(long cap) const noexcept {
  int rc = ioctl_retry(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return rc < 0 ? 0 : rc;
}

Fd KvmSystem::create_vm_fd() const {
  int fd;
  // KVM_CREATE_VM can fail with EINTR while the kernel sets up the MMU
  // notifier; ioctl_retry covers that.
  fd = xioctl(fd_.get(), KVM_CREATE_VM, 0UL, "KVM_CREATE_VM");
  return Fd(fd);
}

}  // namespace amber::kvm
