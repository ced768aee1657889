#include "cli/pool_wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::cli::pool_wire {

namespace {

constexpr std::string_view kMagic = "amber-pool 1\n";

// A record of `len` bytes at `data` with room for kRequestFds descriptors.
struct Message {
  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kRequestFds)] = {};
  msghdr msg{};
  Message(void* data, size_t len) : iov{data, len} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
};

}  // namespace

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path)
    throw UsageError(fmt::format("pool socket '{}': the path must have 1 to {} bytes", path, sizeof a.sun_path - 1));
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

void send_request(int sock, std::chrono::steady_clock::time_point start, const std::vector<std::string>& args,
                  const int (&fds)[kRequestFds]) {
  std::string body(kMagic);
  body += fmt::format("{}\n", std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count());
  for (auto& arg : args) {
    body += arg;
    body += '\0';
  }
  if (body.size() > kMaxRequest) throw UsageError("resume --pool: the arguments are too long for a pool request");
  Message m(body.data(), body.size());
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t n;
  do n = ::sendmsg(sock, &m.msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw SysError("pool: sending the request", errno);
}

Request receive_request(int sock) {
  std::vector<char> buf(kMaxRequest + 1);
  Message m(buf.data(), buf.size());
  ssize_t n;
  do n = ::recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw SysError("pool: receiving the request", errno);
  Request r;
  // Descriptors first, so that every one received is closed on any error.
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg); c; c = CMSG_NXTHDR(&m.msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got < kRequestFds) r.fds[got++].reset(fd);
      else ::close(fd);
    }
  }
  // The kernel closes what did not fit in `control`.
  if (m.msg.msg_flags & MSG_CTRUNC) throw Error(fmt::format("pool: the request carries more than {} descriptors", kRequestFds));
  if (m.msg.msg_flags & MSG_TRUNC) throw Error("pool: the request is too large");
  if (got != kRequestFds) throw Error(fmt::format("pool: the request carries {} descriptors, not {}", got, kRequestFds));
  std::string_view body(buf.data(), size_t(n));
  if (body.substr(0, kMagic.size()) != kMagic) throw Error("pool: not an amber pool request (another amber version?)");
  body.remove_prefix(kMagic.size());
  auto nl = body.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 19) throw Error("pool: the request has no start time");
  uint64_t ns = 0;
  for (char ch : body.substr(0, nl)) {
    if (ch < '0' || ch > '9') throw Error("pool: the request's start time is not a number");
    ns = ns * 10 + uint64_t(ch - '0');
  }
  r.client_start = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
  body.remove_prefix(nl + 1);
  while (!body.empty()) {
    auto end = body.find('\0');
    if (end == std::string_view::npos) throw Error("pool: the request's last argument is not terminated");
    if (r.args.size() == kMaxArgs) throw Error(fmt::format("pool: more than {} arguments", kMaxArgs));
    r.args.emplace_back(body.substr(0, end));
    body.remove_prefix(end + 1);
  }
  if (r.args.empty() || r.args[0] != "resume") throw Error("pool: only 'amber resume' requests are served");
  return r;
}

// write(2), in every seccomp role's list: the worker answers after its
// resume loaded the main thread's filter.
void send_answer(int sock, const std::string& text) { (void)!::write(sock, text.data(), text.size()); }

int receive_status(int sock, const std::string& socket_path) {
  char buf[1024];
  ssize_t n;
  do n = ::recv(sock, buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    throw Error(fmt::format("--pool {}: the pool's worker ended without an exit status (its messages, if any, are above)",
                            socket_path));
  std::string_view reply(buf, size_t(n));
  if (reply.substr(0, 7) == "status " && reply.size() > 7 && reply.size() <= 10) {
    int rc = 0;
    for (char ch : reply.substr(7)) {
      if (ch < '0' || ch > '9') throw Error("--pool: a malformed answer from the pool");
      rc = rc * 10 + (ch - '0');
    }
    if (rc <= 255) return rc;
  }
  if (reply.substr(0, 6) == "error ") throw Error(std::string(reply.substr(6)));
  throw Error("--pool: a malformed answer from the pool");
}

}  // namespace amber::cli::pool_wire
