#pragma once
// amber's guest -> VMM control port at layout::kAmberCtlPort (0x5a0; 0x510,
// layout::kAmberCtlPortLegacy, in VMs resumed from images saved before it
// moved out of QEMU's fw_cfg range), the doorbell a bare-metal guest or a
// privileged kernel rings (docs/api.md):
//   32-bit write of kSaveRequest ("SAVE")  ask the VMM to save the VM
//                                          (to --save IMAGE, then --then)
//   32-bit read                            kMagic ("AMBR"): amber is here
// Anything else is ignored with a rate-limited warning. Stateless.
#include <cstdint>
#include <functional>

#include "amber/device.h"
#include "amber/log.h"

namespace amber::vmm {

class CtlPort : public Device {
 public:
  static constexpr uint32_t kSaveRequest = 0x53415645;  // "SAVE" as a big-endian word
  static constexpr uint32_t kMagic = 0x414d4252;        // "AMBR"
  static constexpr uint64_t kWindowSize = 4;

  explicit CtlPort(std::function<void()> on_save) : on_save_(std::move(on_save)) {}

  std::string_view name() const override { return "amber-ctl"; }
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;
  StateNode save() const override { return {}; }
  void restore(const StateNode&) override {}

 private:
  std::function<void()> on_save_;
  log::RateLimit warn_limit_;
};

}  // namespace amber::vmm
