#include "api/api_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/log.h"
#include "amber/thread_role.h"
#include "api/json.h"

namespace amber::api {

namespace {

sockaddr_un socket_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path)
    throw UsageError(fmt::format("--api: socket path must be 1 to {} bytes: '{}'", sizeof a.sun_path - 1, path));
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

// A socket file nobody listens on (a VMM that died) may be replaced; a live
// socket or any other file may not.
void remove_stale_socket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw SysError(fmt::format("--api {}", path), errno);
  }
  if (!S_ISSOCK(st.st_mode)) throw Error(fmt::format("--api {}: exists and is not a socket; refusing to replace it", path));
  sockaddr_un a = socket_address(path);
  UniqueFd fd(check_sys(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  fd.reset();
  if (rc == 0) throw Error(fmt::format("--api {}: another process is serving this socket", path));
  if (err != ECONNREFUSED) throw SysError(fmt::format("--api {}: probing the existing socket", path), err);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) throw SysError(fmt::format("--api {}: removing the stale socket", path), errno);
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(size_t(n));
  }
  return true;
}

}  // namespace

ApiServer::ApiServer(std::string path, Submit submit) : path_(std::move(path)), submit_(std::move(submit)) {
  sockaddr_un a = socket_address(path_);
  remove_stale_socket(path_);
  listen_fd_.reset(check_sys(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  // The socket file gets its mode at bind() time: create it 0600 under a
  // tight umask rather than chmod afterwards (no window where others may
  // connect). umask is process-wide; this runs before any VM thread starts.
  mode_t old = umask(0177);
  int rc = bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  umask(old);
  if (rc != 0) throw SysError(fmt::format("--api {}: bind", path_), err);  // listen_fd_ closes itself
  struct stat st;
  if (stat(path_.c_str(), &st) == 0) inode_ = st.st_ino;
  if (listen(listen_fd_.get(), 16) != 0) {
    err = errno;
    unlink(path_.c_str());
    throw SysError(fmt::format("--api {}: listen", path_), err);
  }
  stop_fd_.reset(check_sys(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
  acceptor_ = std::thread([this] { accept_loop(); });
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  (void)!write(stop_fd_.get(), &one, sizeof one);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lk(clients_mu_);
    for (auto& c : clients_)
      if (c.thread.joinable()) c.thread.join();
    clients_.clear();  // closes the client sockets
  }
  struct stat st;
  if (stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) unlink(path_.c_str());
  listen_fd_.reset();
  stop_fd_.reset();
}

void ApiServer::reap_done_clients() {
  std::lock_guard lk(clients_mu_);
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (it->done) {
      it->thread.join();
      it = clients_.erase(it);  // closes its socket
    } else {
      ++it;
    }
  }
}

void ApiServer::accept_loop() {
  enter_thread_role(ThreadRole::kApi);  // client threads inherit its filter and add their own
  for (;;) {
    pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("api: poll: {}", std::strerror(errno));
      return;
    }
    if (p[1].revents) return;
    UniqueFd fd(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) continue;  // the client gave up already, or fd pressure: keep serving the others
    reap_done_clients();
    std::lock_guard lk(clients_mu_);
    if (clients_.size() >= kMaxClients) {
      send_all(fd.get(), error_answer(fmt::format("too many clients (at most {})", kMaxClients)) + "\n");
      continue;
    }
    Client& c = clients_.emplace_back();
    c.fd = std::move(fd);
    c.thread = std::thread([this, &c] {
      enter_thread_role(ThreadRole::kApi);
      serve(c);
      c.done = true;
    });
  }
}

std::string ApiServer::answer(const std::string& line) {
  Request r;
  try {
    r = parse_request(line);
  } catch (const std::exception& e) {
    return error_answer(e.what());
  }
  std::future<std::string> f;
  try {
    f = submit_(r);
  } catch (const std::exception& e) {
    return error_answer(e.what());
  }
  // The VM's main loop answers; if it ends first (the guest rebooted, a
  // stop), the request is answered with an error instead of hanging.
  while (f.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    if (stopping_) return error_answer("the VM stopped before answering");
  try {
    return f.get();
  } catch (const std::exception& e) {
    return error_answer(fmt::format("the VM stopped before answering ({})", e.what()));
  }
}

void ApiServer::serve(Client& c) {
  std::string buf;
  bool skipping = false;  // inside an oversized line: drop bytes up to its newline
  char chunk[4096];
  for (;;) {
    pollfd p[2] = {{c.fd.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    ssize_t n = recv(c.fd.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // closed (a partial line is dropped) or reset
    for (ssize_t i = 0; i < n; ++i) {
      char ch = chunk[i];
      if (ch != '\n') {
        if (skipping) continue;
        buf += ch;
        if (buf.size() > kMaxLine) {
          buf.clear();
          skipping = true;
          if (!send_all(c.fd.get(), error_answer(fmt::format("request longer than {} bytes", kMaxLine)) + "\n")) return;
        }
        continue;
      }
      if (skipping) {
        skipping = false;
        continue;
      }
      if (!buf.empty() && buf.back() == '\r') buf.pop_back();
      std::string line = std::move(buf);
      buf.clear();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are ignored
      if (!send_all(c.fd.get(), answer(line) + "\n")) return;
    }
  }
}

}  // namespace amber::api
