#include "vmm/exit_handler.h"

namespace amber::vmm {

namespace {
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// KVM reports `rep ins/outs` as one exit with count elements laid out
// back to back in the data area (api.rst, KVM_EXIT_IO); each element is a
// separate bus access to the same port.
bool valid_io(uint8_t size, uint32_t count, size_t data_size) {
  return (size == 1 || size == 2 || size == 4) && count >= 1 && uint64_t(size) * count == data_size;
}
}  // namespace

ExitResult handle_exit(const hv::VcpuExit& exit, const Bus& pio, const Bus& mmio) noexcept {
  return std::visit(
      Overloaded{
          [&](const hv::IoIn& e) -> ExitResult {
            if (!valid_io(e.size, e.count, e.data.size())) return {ExitAction::kError, "malformed port I/O exit"};
            for (uint32_t i = 0; i < e.count; ++i) pio.read(e.port, e.data.subspan(size_t(i) * e.size, e.size));
            return {};
          },
          [&](const hv::IoOut& e) -> ExitResult {
            if (!valid_io(e.size, e.count, e.data.size())) return {ExitAction::kError, "malformed port I/O exit"};
            for (uint32_t i = 0; i < e.count; ++i) pio.write(e.port, e.data.subspan(size_t(i) * e.size, e.size));
            return {};
          },
          [&](const hv::MmioRead& e) -> ExitResult {
            mmio.read(e.addr, e.data);
            return {};
          },
          [&](const hv::MmioWrite& e) -> ExitResult {
            mmio.write(e.addr, e.data);
            return {};
          },
          [](const hv::Halt&) -> ExitResult { return {ExitAction::kHalted, {}}; },
          [](const hv::Shutdown&) -> ExitResult { return {ExitAction::kShutdown, {}}; },
          [](const hv::SystemReset&) -> ExitResult { return {ExitAction::kReset, {}}; },
          [](const hv::Interrupted&) -> ExitResult { return {ExitAction::kInterrupted, {}}; },
          [](const hv::InternalError& e) -> ExitResult { return {ExitAction::kError, e.what}; },
          // One the debugger did not take (it detached while the trap was
          // on its way): the guest goes on.
          [](const hv::DebugTrap&) -> ExitResult { return {}; },
      },
      exit);
}

}  // namespace amber::vmm
