#pragma once
// The control-socket requests (docs/api.md): one JSON object per line,
// validated here into a Request before anything touches the VM.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amber::api {

enum class Cmd { kStatus, kPause, kResume, kSave, kStop, kReset };

struct Request {
  Cmd cmd = Cmd::kStatus;
  // save only
  std::string path;
  bool compress = false;
  bool then_exit = false;  // "then":"exit" ends the VM after the save
};

// Throws JsonError for malformed JSON, an unknown command or a missing,
// unknown or mistyped key; the message is meant for the client.
Request parse_request(std::string_view line);

// {"ok":false,"error":"..."}
std::string error_answer(std::string_view message);

const char* cmd_name(Cmd c);

// The request line for `amber ctl SOCKET CMD key=value...`: "true"/"false"
// become booleans, everything else a string (the server checks the types).
std::string request_from_args(const std::string& cmd, const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace amber::api
