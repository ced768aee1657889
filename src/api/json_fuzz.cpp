// libFuzzer target: an arbitrary byte string as a control-socket request line.
// Whatever the bytes, parse_json_object and parse_request must either succeed
// or throw JsonError: no crash, no other exception. Two properties on top:
// an accepted object written back with JsonWriter parses to the same members,
// and json_quote of any bytes (without NUL) is a string the reader accepts.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/core.h>

#include "api/json.h"
#include "api/protocol.h"

using namespace amber::api;

namespace {

std::string write_back(const JsonObject& o) {
  JsonWriter w;
  for (auto& [k, v] : o.members) {
    if (auto* s = std::get_if<std::string>(&v)) w.str(k, *s);
    else if (auto* b = std::get_if<bool>(&v)) w.boolean(k, *b);
    else w.raw(k, fmt::format("{}", std::get<double>(v)));  // shortest round-trip form
  }
  return w.done();
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    JsonObject o = parse_json_object(text);
    check(o.members.size() <= kJsonMaxMembers);
    JsonObject again = parse_json_object(write_back(o));
    check(again.members == o.members);
  } catch (const JsonError&) {
  }
  try {
    (void)parse_request(text);
  } catch (const JsonError&) {
  }
  if (text.find('\0') == std::string_view::npos) {
    JsonObject q = parse_json_object("{\"s\":" + json_quote(text) + "}");
    check(q.members.size() == 1 && std::holds_alternative<std::string>(q.members[0].second));
  }
  return 0;
}
