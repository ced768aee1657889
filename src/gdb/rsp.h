#pragma once
// GDB Remote Serial Protocol framing (gdb manual, "Overview" of Appendix E
// "GDB Remote Serial Protocol"): "$payload#cc" packets with a modulo-256
// checksum, '+'/'-' acknowledgements, the 0x03 interrupt byte, and '}'
// escapes (byte ^ 0x20) in binary data. The reader treats its input as
// hostile: payloads are bounded, and garbage between packets is skipped.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amber::gdb {

// The largest payload accepted, and the PacketSize announced in qSupported.
inline constexpr size_t kMaxPacket = 0x4000;

struct RspEvent {
  enum Kind { kPacket, kBadChecksum, kTooLong, kInterrupt, kAck, kNack } kind;
  std::string payload;  // kPacket: unescaped, without '$', '#' and checksum
};

class PacketReader {
 public:
  // Consumes one byte; returns an event when it completes one.
  std::optional<RspEvent> feed(uint8_t byte);

 private:
  enum class State { kIdle, kBody, kEscape, kSum1, kSum2 } state_ = State::kIdle;
  std::string body_;
  uint8_t sum_ = 0, got_ = 0;
  bool overflow_ = false;
};

// "$payload#cc", escaping '$', '#', '}' and '*' (so no byte starts a
// run-length sequence).
std::string frame(std::string_view payload);

// Hex helpers. parse_hex accepts 1..16 digits, nothing else.
std::optional<uint64_t> parse_hex(std::string_view s);
std::string to_hex(std::span<const uint8_t> bytes);
std::string to_hex(std::string_view text);
// Even number of hex digits -> bytes; nullopt on anything else.
std::optional<std::vector<uint8_t>> from_hex(std::string_view s);

}  // namespace amber::gdb
