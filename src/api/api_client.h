#pragma once
// The client side of the control socket, for `amber ctl`.
#include <string>

namespace amber::api {

// Sends one request line to the socket at `path` and returns the answer
// line (without its newline). Throws Error when the socket cannot be
// reached or closes without answering.
std::string api_call(const std::string& path, const std::string& request);

}  // namespace amber::api
