#include "vmm/serial_trigger.h"

namespace amber::vmm {

SerialTrigger::SerialTrigger(std::string text) : text_(std::move(text)), fail_(text_.size(), 0) {
  // Knuth-Morris-Pratt: a partial match that fails may still be the prefix
  // of a later match ("AAB" in "AAAB").
  for (size_t i = 1, k = 0; i < text_.size(); ++i) {
    while (k > 0 && text_[i] != text_[k]) k = fail_[k - 1];
    if (text_[i] == text_[k]) ++k;
    fail_[i] = k;
  }
}

bool SerialTrigger::feed(std::span<const uint8_t> bytes) noexcept {
  if (text_.empty()) return false;
  bool hit = false;
  for (uint8_t b : bytes) {
    char c = static_cast<char>(b);
    while (matched_ > 0 && c != text_[matched_]) matched_ = fail_[matched_ - 1];
    if (c == text_[matched_]) ++matched_;
    if (matched_ == text_.size()) {
      hit = true;
      matched_ = fail_[matched_ - 1];
    }
  }
  return hit;
}

}  // namespace amber::vmm
