#include "exec/exec_status.h"

#include <charconv>

namespace amber::exec {

std::optional<int> status_from_debug_exit(int guest_status) {
  if (guest_status < 0 || guest_status > 0x1ff || (guest_status & 1) == 0) return std::nullopt;
  return guest_status >> 1;
}

std::optional<int> status_from_file(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.empty() || text.size() > 3) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v > 255) return std::nullopt;
  return v;
}

}  // namespace amber::exec
