#pragma once
// Watches the guest's console output for a text (--save-on-serial TEXT).
// The text may arrive split across any number of writes.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace amber::vmm {

class SerialTrigger {
 public:
  explicit SerialTrigger(std::string text);
  // Feeds output bytes; true when the text completes inside them (reported
  // once per occurrence).
  bool feed(std::span<const uint8_t> bytes) noexcept;
  bool armed() const { return !text_.empty(); }

 private:
  std::string text_;
  std::vector<size_t> fail_;  // KMP failure function
  size_t matched_ = 0;
};

}  // namespace amber::vmm
