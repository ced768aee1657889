#include "gdb/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/log.h"
#include "amber/thread_role.h"

namespace amber::gdb {
namespace {

UniqueFd listen_tcp(const std::string& port_text, std::string& address) {
  char* end = nullptr;
  unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end || port > 65535)
    throw Error(fmt::format("--gdb {}: expected a TCP port (0-65535) or unix:PATH", port_text));
  UniqueFd fd(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw SysError(fmt::format("--gdb: binding 127.0.0.1:{}", port), errno);
  check_sys(::listen(fd.get(), 1), "listen");
  socklen_t len = sizeof a;
  check_sys(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), "getsockname");
  address = fmt::format("127.0.0.1:{}", ntohs(a.sin_port));
  return fd;
}

UniqueFd listen_unix(const std::string& path) {
  sockaddr_un a{};
  if (path.empty() || path.size() >= sizeof a.sun_path)
    throw Error(fmt::format("--gdb unix:{}: the path must have 1 to {} bytes", path, sizeof a.sun_path - 1));
  UniqueFd fd(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  // A socket left by an amber that was killed is replaced, as --api does;
  // any other file is not touched (bind fails on it below).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw SysError(fmt::format("--gdb: binding unix socket {}", path), errno);
  check_sys(::listen(fd.get(), 1), "listen");
  return fd;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

}  // namespace

Server::Server(const std::string& endpoint, Target& target, SoftwareBreakpoints& sw, bool vm_stopped,
               bool emulate_breakpoints)
    : target_(target), sw_(sw), vm_stopped_(vm_stopped), emulate_(emulate_breakpoints) {
  if (endpoint.rfind("unix:", 0) == 0) {
    unix_path_ = endpoint.substr(5);
    listen_fd_ = listen_unix(unix_path_);
    address_ = unix_path_;
  } else {
    listen_fd_ = listen_tcp(endpoint, address_);
  }
  event_fd_ = UniqueFd(check_sys(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
}

Server::~Server() {
  {
    std::lock_guard lk(mu_);
    ended_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

void Server::start() { thread_ = std::thread([this] { loop(); }); }

void Server::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd_.get(), &one, sizeof one);
}

void Server::post_trap(uint32_t vcpu, const hv::DebugTrap& trap) {
  {
    std::lock_guard lk(mu_);
    traps_.push_back({vcpu, trap});
  }
  wake();
}

void Server::vm_ended(int status) {
  {
    std::lock_guard lk(mu_);
    ended_ = true;
    end_status_ = status;
  }
  wake();
  if (thread_.joinable()) thread_.join();
}

void Server::loop() {
  enter_thread_role(ThreadRole::kGdb);  // its seccomp filter (docs/security.md)
  UniqueFd client;
  std::unique_ptr<Session> session;
  auto drop_client = [&] {
    // gdb went away without detaching: the VM runs on, unbroken.
    if (session && !session->finished()) {
      try {
        session->detach();
      } catch (const std::exception& e) {
        log::warn("gdb: detaching: {}", e.what());
      }
    }
    session.reset();
    client = UniqueFd();
  };
  for (;;) {
    // While a gdb is attached the listening socket is polled too: another
    // debugger is turned away at once instead of waiting in the backlog.
    pollfd p[3] = {{event_fd_.get(), POLLIN, 0},
                   {client ? client.get() : listen_fd_.get(), POLLIN, 0},
                   {client ? listen_fd_.get() : -1, POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("gdb: poll: {}", std::strerror(errno));
      return;
    }
    if (p[0].revents) {
      uint64_t n;
      [[maybe_unused]] auto r = ::read(event_fd_.get(), &n, sizeof n);
      std::deque<Trap> traps;
      bool ended;
      int status;
      {
        std::lock_guard lk(mu_);
        traps.swap(traps_);
        ended = ended_;
        status = end_status_;
      }
      if (ended) {
        if (session && client) write_all(client.get(), session->on_vm_end(status));
        return;
      }
      for (auto& t : traps) {
        std::string out;
        try {
          if (session)
            out = session->on_trap(t.vcpu, t.trap);
          else
            // Nobody to tell (gdb left while the trap was on its way): the
            // held vCPU goes on with guest debugging off.
            target_.resume(std::vector<hv::GuestDebug>(target_.vcpu_count()), std::nullopt);
        } catch (const std::exception& e) {
          log::warn("gdb: after a trap: {}", e.what());
        }
        if (!out.empty() && !write_all(client.get(), out)) drop_client();
      }
    }
    if (p[2].revents) {
      int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        ::close(fd);  // the other debugger sees the connection closed
        log::guest_warn(refusals_, "gdb: another debugger connected and was refused: one at a time");
      }
    }
    if (!p[1].revents) continue;
    if (!client) {
      int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      client = UniqueFd(fd);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix sockets
      try {
        if (!vm_stopped_) target_.stop();  // gdb expects a stopped target when it attaches
        vm_stopped_ = false;               // later connections find it running
        session = std::make_unique<Session>(target_, sw_, emulate_);
        session->attach();
        log::info("gdb: connected; the VM is stopped");
      } catch (const std::exception& e) {
        log::warn("gdb: cannot attach: {}", e.what());
        client = UniqueFd();
      }
      continue;
    }
    uint8_t buf[4096];
    ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::info("gdb: disconnected; the VM runs on");
      drop_client();
      continue;
    }
    std::string out = session->receive(std::span<const uint8_t>(buf, size_t(n)));
    if (!out.empty() && !write_all(client.get(), out)) {
      drop_client();
      continue;
    }
    if (session->finished()) {
      session.reset();  // D detached already; k ended the VM
      client = UniqueFd();
    }
  }
}

}  // namespace amber::gdb
