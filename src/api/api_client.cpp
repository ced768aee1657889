#include "api/api_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/unique_fd.h"

namespace amber::api {

std::string api_call(const std::string& path, const std::string& request) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) throw UsageError(fmt::format("ctl: bad socket path '{}'", path));
  std::memcpy(a.sun_path, path.data(), path.size());
  UniqueFd fd(check_sys(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw SysError(fmt::format("connect {}", path), errno);
  std::string line = request + "\n";
  for (size_t off = 0; off < line.size();) {
    ssize_t n = send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SysError(fmt::format("send to {}", path), errno);
    off += size_t(n);
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError(fmt::format("recv from {}", path), errno);
    if (n == 0) throw Error(fmt::format("{}: the VM closed the connection without answering", path));
    answer.append(buf, size_t(n));
    auto nl = answer.find('\n');
    if (nl != std::string::npos) return answer.substr(0, nl);
    if (answer.size() > (1u << 20)) throw Error(fmt::format("{}: answer too long", path));
  }
}

}  // namespace amber::api
