#include "amber/state.h"

#include <fmt/format.h>

namespace amber {

namespace {
bool printable(const std::vector<uint8_t>& v) {
  if (v.empty()) return false;
  for (auto c : v)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}
}  // namespace

std::string format_state(const StateNode& node, int indent) {
  std::string out;
  std::string pad(indent * 2, ' ');
  for (auto& [name, bytes] : node.props) {
    out += fmt::format("{}{} =", pad, name);
    if (printable(bytes)) {
      out += fmt::format(" \"{}\"", std::string(bytes.begin(), bytes.end()));
    } else if (bytes.size() <= 8 && !bytes.empty()) {
      uint64_t v = 0;
      for (size_t i = 0; i < bytes.size(); ++i) v |= uint64_t(bytes[i]) << (8 * i);
      out += fmt::format(" {:#x}", v);
    } else {
      size_t shown = std::min<size_t>(bytes.size(), 32);
      out += fmt::format(" [{} bytes]", bytes.size());
      for (size_t i = 0; i < shown; ++i) out += fmt::format(" {:02x}", bytes[i]);
      if (shown < bytes.size()) out += " ...";
    }
    out += "\n";
  }
  for (auto& [name, child] : node.children) {
    out += fmt::format("{}{} {{\n", pad, name);
    out += format_state(child, indent + 1);
    out += fmt::format("{}}}\n", pad);
  }
  return out;
}

}  // namespace amber
