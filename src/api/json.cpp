#include "api/json.h"

#include <cmath>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace amber::api {

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& why) { throw JsonError("invalid JSON: " + why); }

// nlohmann's message without its "[json.exception...] parse error at line 1,
// column N: " prefix and without the echoed token ("; last read: '...'"),
// which may be most of a 64 KiB line.
std::string short_reason(std::string r) {
  if (size_t p = r.find("] "); r.starts_with("[json.exception.") && p != std::string::npos) r.erase(0, p + 2);
  if (size_t p = r.find(": "); r.starts_with("parse error at line") && p != std::string::npos) r.erase(0, p + 2);
  if (size_t p = r.find("; last read: "); p != std::string::npos) r.erase(p);
  if (r.size() > 200) r = r.substr(0, 200) + "...";
  return r;
}

// SAX events -> JsonObject. The first event must open the object; any other
// container, null, a repeated key or one member too many ends the parse.
class FlatObjectSax {
 public:
  JsonObject obj;

  bool start_object(size_t) {
    if (depth_++ != 0) fail("nested objects and arrays are not supported");
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(size_t) {
    if (depth_ == 0) fail("a request must be a JSON object");
    fail("nested objects and arrays are not supported");
  }
  bool end_array() { return false; }  // unreachable: start_array throws
  bool key(std::string& k) {
    no_nul(k);
    if (obj.find(k)) fail(fmt::format("duplicate key {}", json_quote(k)));
    if (obj.members.size() == kJsonMaxMembers) fail("too many members");
    obj.members.emplace_back(std::move(k), false);
    return true;
  }
  bool null() {
    top_level();
    fail("null is not supported");
  }
  bool boolean(bool v) { return set(v); }
  bool number_integer(json::number_integer_t v) { return set(double(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return set(double(v)); }
  bool number_float(json::number_float_t v, const std::string& text) {
    // nlohmann refuses overflow; refuse underflow too (a nonzero mantissa read as 0).
    if (v == 0 && text.find_first_of("123456789") < text.find_first_of("eE")) fail("number out of range");
    return set(v);
  }
  bool string(std::string& v) {
    no_nul(v);
    return set(std::move(v));
  }
  bool binary(json::binary_t&) { return false; }  // not produced by the JSON reader
  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // position counts the bytes read, the offending one (or the end) included.
    throw JsonError(fmt::format("invalid JSON at byte {}: {}", position ? position - 1 : 0, short_reason(e.what())));
  }

 private:
  void top_level() const {
    if (depth_ == 0) fail("a request must be a JSON object");
  }
  // NUL would truncate paths silently on their way to the kernel.
  static void no_nul(const std::string& s) {
    if (s.find('\0') != std::string::npos) fail("\\u0000 is not allowed");
  }
  bool set(JsonValue v) {
    top_level();
    obj.members.back().second = std::move(v);
    return true;
  }
  int depth_ = 0;
};

}  // namespace

const JsonValue* JsonObject::find(std::string_view key) const {
  for (auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

JsonObject parse_json_object(std::string_view text) {
  // nlohmann reads a NUL byte as the end of the input and skips a leading
  // byte order mark; neither is JSON text (RFC 8259 §8.1), so refuse both here.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw JsonError(fmt::format("invalid JSON at byte {}: NUL byte", nul));
  if (text.starts_with("\xef\xbb\xbf")) throw JsonError("invalid JSON at byte 0: byte order mark");
  FlatObjectSax sax;
  // strict: nothing but whitespace after the object; comments are not JSON.
  json::sax_parse(text.data(), text.data() + text.size(), &sax, json::input_format_t::json, true, false);
  return std::move(sax.obj);
}

std::string json_quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
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
