#include "api/protocol.h"

#include <fmt/core.h>

#include "api/json.h"

namespace amber::api {

namespace {

struct CmdInfo {
  Cmd cmd;
  const char* name;
};
constexpr CmdInfo kCmds[] = {{Cmd::kStatus, "status"}, {Cmd::kPause, "pause"}, {Cmd::kResume, "resume"},
                             {Cmd::kSave, "save"},     {Cmd::kStop, "stop"},   {Cmd::kReset, "reset"}};

[[noreturn]] void bad(const std::string& why) { throw JsonError(why); }

const std::string& want_string(const JsonValue& v, std::string_view key) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  bad(fmt::format("'{}' must be a string", key));
}

bool want_bool(const JsonValue& v, std::string_view key) {
  if (auto* b = std::get_if<bool>(&v)) return *b;
  bad(fmt::format("'{}' must be true or false", key));
}

}  // namespace

const char* cmd_name(Cmd c) {
  for (auto& i : kCmds)
    if (i.cmd == c) return i.name;
  return "?";
}

Request parse_request(std::string_view line) {
  JsonObject obj = parse_json_object(line);
  const JsonValue* cv = obj.find("cmd");
  if (!cv) bad("missing \"cmd\"");
  const std::string& name = want_string(*cv, "cmd");
  Request r;
  bool known = false;
  for (auto& i : kCmds)
    if (name == i.name) {
      r.cmd = i.cmd;
      known = true;
    }
  if (!known) bad(fmt::format("unknown command {} (status, pause, resume, save, stop, reset)", json_quote(name)));
  for (auto& [k, v] : obj.members) {
    if (k == "cmd") continue;
    if (r.cmd != Cmd::kSave) bad(fmt::format("'{}' takes no key {}", name, json_quote(k)));
    if (k == "path") {
      r.path = want_string(v, k);
    } else if (k == "compress") {
      r.compress = want_bool(v, k);
    } else if (k == "then") {
      const std::string& t = want_string(v, k);
      if (t == "exit") r.then_exit = true;
      else if (t != "continue") bad("'then' must be \"continue\" or \"exit\"");
    } else {
      bad(fmt::format("'save' takes no key {} (path, compress, then)", json_quote(k)));
    }
  }
  if (r.cmd == Cmd::kSave && r.path.empty()) bad("'save' needs a non-empty \"path\"");
  return r;
}

std::string request_from_args(const std::string& cmd, const std::vector<std::pair<std::string, std::string>>& params) {
  JsonWriter w;
  w.str("cmd", cmd);
  for (auto& [k, v] : params) {
    if (v == "true" || v == "false") w.boolean(k, v == "true");
    else w.str(k, v);
  }
  return w.done();
}

std::string error_answer(std::string_view message) {
  return JsonWriter().boolean("ok", false).str("error", message).done();
}

}  // namespace amber::api
