#include "gdb/rsp.h"

namespace amber::gdb {
namespace {

int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kDigits[] = "0123456789abcdef";

}  // namespace

std::optional<RspEvent> PacketReader::feed(uint8_t c) {
  switch (state_) {
    case State::kIdle:
      // Between packets only acks, the interrupt byte and '$' mean anything.
      if (c == '$') {
        state_ = State::kBody;
        body_.clear();
        sum_ = 0;
        overflow_ = false;
      } else if (c == 0x03) {
        return RspEvent{RspEvent::kInterrupt, {}};
      } else if (c == '+') {
        return RspEvent{RspEvent::kAck, {}};
      } else if (c == '-') {
        return RspEvent{RspEvent::kNack, {}};
      }
      return std::nullopt;
    case State::kBody:
    case State::kEscape:
      if (c == '#' && state_ == State::kBody) {
        state_ = State::kSum1;
        return std::nullopt;
      }
      sum_ = uint8_t(sum_ + c);
      if (state_ == State::kBody && c == '}') {
        state_ = State::kEscape;
        return std::nullopt;
      }
      if (body_.size() >= kMaxPacket)
        overflow_ = true;  // keep counting to the '#', then report it
      else
        body_.push_back(char(state_ == State::kEscape ? (c ^ 0x20) : c));
      state_ = State::kBody;
      return std::nullopt;
    case State::kSum1: {
      int d = hex_digit(c);
      got_ = uint8_t(d < 0 ? 0 : d << 4);
      state_ = d < 0 ? State::kIdle : State::kSum2;
      if (d < 0) return RspEvent{RspEvent::kBadChecksum, {}};
      return std::nullopt;
    }
    case State::kSum2: {
      state_ = State::kIdle;
      int d = hex_digit(c);
      if (d < 0 || uint8_t(got_ | d) != sum_) return RspEvent{RspEvent::kBadChecksum, {}};
      if (overflow_) return RspEvent{RspEvent::kTooLong, {}};
      return RspEvent{RspEvent::kPacket, std::move(body_)};
    }
  }
  return std::nullopt;
}

std::string frame(std::string_view payload) {
  std::string out = "$";
  uint8_t sum = 0;
  auto put = [&](char c) {
    out.push_back(c);
    sum = uint8_t(sum + uint8_t(c));
  };
  for (char c : payload) {
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      put('}');
      put(char(c ^ 0x20));
    } else {
      put(c);
    }
  }
  out.push_back('#');
  out.push_back(kDigits[sum >> 4]);
  out.push_back(kDigits[sum & 15]);
  return out;
}

std::optional<uint64_t> parse_hex(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d = hex_digit(uint8_t(c));
    if (d < 0) return std::nullopt;
    v = v << 4 | uint64_t(d);
  }
  return v;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string to_hex(std::string_view text) {
  return to_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit(uint8_t(s[2 * i])), lo = hex_digit(uint8_t(s[2 * i + 1]));
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return out;
}

}  // namespace amber::gdb
