#include "kvm/exit_decode.h"

#include <algorithm>

#include <fmt/core.h>

namespace amber::kvm {
namespace {

hv::VcpuExit decode_io(kvm_run& run, size_t mmap_size) {
  auto& io = run.io;
  if (io.size != 1 && io.size != 2 && io.size != 4)
    return hv::InternalError{fmt::format("KVM_EXIT_IO: bad size {} at port {:#x}", io.size, io.port)};
  uint64_t bytes = uint64_t(io.size) * io.count;
  if (io.count == 0 || io.data_offset > mmap_size || bytes > mmap_size - io.data_offset)
    return hv::InternalError{fmt::format("KVM_EXIT_IO: data at offset {:#x} ({} x {} bytes) is outside the {}-byte kvm_run mapping",
                                         io.data_offset, io.count, io.size, mmap_size)};
  auto* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
  if (io.direction == KVM_EXIT_IO_OUT)
    return hv::IoOut{io.port, io.size, io.count, std::span<const uint8_t>(data, bytes)};
  return hv::IoIn{io.port, io.size, io.count, std::span<uint8_t>(data, bytes)};
}

hv::VcpuExit decode_mmio(kvm_run& run) {
  auto& m = run.mmio;
  if (m.len == 0 || m.len > sizeof(m.data))
    return hv::InternalError{fmt::format("KVM_EXIT_MMIO: bad length {} at {:#x}", m.len, m.phys_addr)};
  if (m.is_write) return hv::MmioWrite{m.phys_addr, std::span<const uint8_t>(m.data, m.len)};
  return hv::MmioRead{m.phys_addr, std::span<uint8_t>(m.data, m.len)};
}

}  // namespace

hv::VcpuExit decode_exit(kvm_run& run, size_t mmap_size) {
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      return decode_io(run, mmap_size);
    case KVM_EXIT_MMIO:
      return decode_mmio(run);
    case KVM_EXIT_HLT:
      return hv::Halt{};
    case KVM_EXIT_SHUTDOWN:
      return hv::Shutdown{};
    case KVM_EXIT_INTR:
      return hv::Interrupted{};
    case KVM_EXIT_SYSTEM_EVENT:
      switch (run.system_event.type) {
        case KVM_SYSTEM_EVENT_RESET:
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          return hv::SystemReset{};
        default:
          return hv::InternalError{fmt::format("KVM_EXIT_SYSTEM_EVENT: type {}", run.system_event.type)};
      }
    case KVM_EXIT_DEBUG:
      return hv::DebugTrap{run.debug.arch.exception, run.debug.arch.pc, run.debug.arch.dr6, run.debug.arch.dr7};
    case KVM_EXIT_FAIL_ENTRY:
      return hv::InternalError{fmt::format("KVM_EXIT_FAIL_ENTRY: hardware_entry_failure_reason {:#x} on cpu {}",
                                           run.fail_entry.hardware_entry_failure_reason, run.fail_entry.cpu)};
    case KVM_EXIT_INTERNAL_ERROR: {
      auto& ie = run.internal;
      std::string what = fmt::format("KVM_EXIT_INTERNAL_ERROR: suberror {}", ie.suberror);
      uint32_t n = std::min<uint32_t>(ie.ndata, sizeof(ie.data) / sizeof(ie.data[0]));
      for (uint32_t i = 0; i < n; ++i) what += fmt::format(" {:#x}", ie.data[i]);
      return hv::InternalError{what};
    }
    default:
      return hv::InternalError{fmt::format("unhandled KVM exit reason {}", run.exit_reason)};
  }
}

bool exit_needs_completion(const kvm_run& run) noexcept {
  return run.exit_reason == KVM_EXIT_IO || run.exit_reason == KVM_EXIT_MMIO;
}

}  // namespace amber::kvm
