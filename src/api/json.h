#pragma once
// A strict JSON reader and writer for the control socket (docs/api.md),
// on top of nlohmann/json (its SAX reader; json.cpp only, not this header).
//
// The reader accepts exactly one flat object whose values are strings,
// booleans or numbers: that is all a request needs, and it refuses the rest
// (arrays, nested objects, null, duplicate keys, invalid UTF-8, lone
// surrogates, NUL, a byte order mark, numbers that overflow or underflow)
// before building anything. Every failure is a JsonError; syntax errors name
// the byte offset.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "amber/error.h"

namespace amber::api {

class JsonError : public Error {
 public:
  using Error::Error;
};

using JsonValue = std::variant<std::string, bool, double>;

struct JsonObject {
  std::vector<std::pair<std::string, JsonValue>> members;  // in input order, keys unique
  const JsonValue* find(std::string_view key) const;
};

inline constexpr size_t kJsonMaxMembers = 64;

JsonObject parse_json_object(std::string_view text);

// `s` as a JSON string literal. Bytes that are not valid UTF-8 become U+FFFD,
// so the output is always valid JSON whatever the input (error texts may
// quote guest- or client-provided bytes).
std::string json_quote(std::string_view s);

// Builds one JSON object, member by member. Distinct method names avoid the
// const char* -> bool overload trap.
class JsonWriter {
 public:
  JsonWriter& str(std::string_view key, std::string_view v);
  JsonWriter& boolean(std::string_view key, bool v);
  JsonWriter& uint(std::string_view key, uint64_t v);
  JsonWriter& num(std::string_view key, double v);  // finite; printed with up to 3 decimals
  JsonWriter& raw(std::string_view key, std::string_view json);  // an already-encoded value
  std::string done() const { return out_ + "}"; }

 private:
  void key(std::string_view k);
  std::string out_ = "{";
};

}  // namespace amber::api
