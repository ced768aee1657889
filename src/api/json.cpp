#include "api/json.h"

#include <charconv>
#include <cmath>

#include <fmt/core.h>

namespace amber::api {

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 if invalid (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return uint8_t(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (n == 0 || c > 0xf4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && b(i + 1) < 0xa0) return 0;  // overlong
  if (c == 0xed && b(i + 1) >= 0xa0) return 0; // surrogate
  if (c == 0xf0 && b(i + 1) < 0x90) return 0;  // overlong
  if (c == 0xf4 && b(i + 1) >= 0x90) return 0; // > U+10FFFF
  return n;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  JsonObject object() {
    JsonObject obj;
    ws();
    expect('{', "a request must be a JSON object");
    ws();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        ws();
        if (peek() != '"') fail("expected a string key");
        std::string k = string();
        ws();
        expect(':', "expected ':'");
        ws();
        JsonValue v = value();
        if (obj.find(k)) fail(fmt::format("duplicate key {}", json_quote(k)));
        if (obj.members.size() == kJsonMaxMembers) fail("too many members");
        obj.members.emplace_back(std::move(k), std::move(v));
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}', "expected ',' or '}'");
        break;
      }
    }
    ws();
    if (i_ != s_.size()) fail("unexpected text after the object");
    return obj;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw JsonError(fmt::format("invalid JSON at byte {}: {}", i_, why));
  }
  int peek() const { return i_ < s_.size() ? uint8_t(s_[i_]) : -1; }
  void expect(char c, const char* why) {
    if (peek() != uint8_t(c)) fail(why);
    ++i_;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  JsonValue value() {
    int c = peek();
    if (c == '"') return string();
    if (literal("true")) return true;
    if (literal("false")) return false;
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (c == '{' || c == '[') fail("nested objects and arrays are not supported");
    if (literal("null")) fail("null is not supported");
    fail("expected a string, a boolean or a number");
  }

  // RFC 8259 §6 grammar, checked by hand; from_chars then converts.
  double number() {
    size_t start = i_;
    auto digits = [&] {
      size_t d = i_;
      while (peek() >= '0' && peek() <= '9') ++i_;
      return i_ - d;
    };
    if (peek() == '-') ++i_;
    if (peek() == '0') ++i_;
    else if (digits() == 0) fail("bad number");
    if (peek() == '.') {
      ++i_;
      if (digits() == 0) fail("bad number: digits expected after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (digits() == 0) fail("bad number: digits expected in the exponent");
    }
    double v = 0;
    auto r = std::from_chars(s_.data() + start, s_.data() + i_, v);
    if (r.ec != std::errc() || r.ptr != s_.data() + i_ || !std::isfinite(v)) fail("number out of range");
    return v;
  }

  uint32_t hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int c = peek();
      uint32_t d;
      if (c >= '0' && c <= '9') d = uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') d = uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = uint32_t(c - 'A' + 10);
      else fail("bad \\u escape");
      v = v * 16 + d;
      ++i_;
    }
    return v;
  }

  std::string string() {
    expect('"', "expected '\"'");
    std::string out;
    for (;;) {
      int c = peek();
      if (c < 0) fail("unterminated string");
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        size_t n = utf8_len(s_, i_);
        if (n == 0) fail("invalid UTF-8");
        out.append(s_.substr(i_, n));
        i_ += n;
        continue;
      }
      ++i_;
      int e = peek();
      ++i_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail("lone low surrogate");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (!literal("\\u")) fail("lone high surrogate");
            uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          // NUL would truncate paths silently on their way to the kernel.
          if (cp == 0) fail("\\u0000 is not allowed");
          put_utf8(out, cp);
          break;
        }
        default:
          --i_;
          fail("bad escape");
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

const JsonValue* JsonObject::find(std::string_view key) const {
  for (auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

JsonObject parse_json_object(std::string_view text) { return Parser(text).object(); }

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint8_t c = uint8_t(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      size_t n = utf8_len(s, i);
      if (n == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD
        ++i;
        continue;
      }
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out + "\"";
}

void JsonWriter::key(std::string_view k) {
  if (out_.size() > 1) out_ += ',';
  out_ += json_quote(k);
  out_ += ':';
}

JsonWriter& JsonWriter::str(std::string_view k, std::string_view v) {
  key(k);
  out_ += json_quote(v);
  return *this;
}

JsonWriter& JsonWriter::boolean(std::string_view k, bool v) {
  key(k);
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::uint(std::string_view k, uint64_t v) {
  key(k);
  out_ += fmt::format("{}", v);
  return *this;
}

JsonWriter& JsonWriter::num(std::string_view k, double v) {
  key(k);
  if (!std::isfinite(v)) v = 0;  // JSON has no inf/nan
  std::string s = fmt::format("{:.3f}", v);
  while (s.back() == '0') s.pop_back();  // "12.500" -> "12.5", "3.000" -> "3"
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  out_ += s;
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view k, std::string_view json) {
  key(k);
  out_ += json;
  return *this;
}

}  // namespace amber::api
