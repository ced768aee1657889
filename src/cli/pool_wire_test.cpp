// The warm pool's wire format (pool_wire.h) over a socketpair: a request
// round-trips with its descriptors; every malformed request and answer is
// an Error naming what is wrong (the worker reads requests from any process
// of the pool's user).
#include "cli/pool_wire.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "amber/error.h"

namespace amber::cli::pool_wire {
namespace {

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
      a = sv[0];
      b = sv[1];
    }
  }
  ~Pair() {
    ::close(a);
    ::close(b);
  }
};

// A raw record with `nfds` copies of /dev/null attached.
void send_raw(int sock, const std::string& body, int nfds) {
  int fds[8];
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < nfds; ++i) fds[i] = null;
  iovec iov{const_cast<char*>(body.data()), body.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * size_t(nfds));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * size_t(nfds));
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * size_t(nfds));
  }
  ASSERT_EQ(::sendmsg(sock, &msg, 0), ssize_t(body.size())) << std::strerror(errno);
  ::close(null);
}

std::string error_of(int sock) {
  try {
    receive_request(sock);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(PoolWire, ARequestRoundTripsWithItsDescriptors) {
  Pair p;
  ASSERT_GE(p.a, 0);
  int pipes[2][2];
  ASSERT_EQ(::pipe(pipes[0]), 0);
  ASSERT_EQ(::pipe(pipes[1]), 0);
  int fds[kRequestFds] = {pipes[0][0], pipes[0][1], pipes[1][0], pipes[1][1]};
  auto start = std::chrono::steady_clock::now();
  send_request(p.a, start, {"resume", "vm.amber", "--timings", ""}, fds);
  Request r = receive_request(p.b);
  EXPECT_EQ(r.args, (std::vector<std::string>{"resume", "vm.amber", "--timings", ""}));
  EXPECT_EQ(r.client_start, std::chrono::time_point_cast<std::chrono::nanoseconds>(start));
  for (int i = 0; i < kRequestFds; ++i) {
    struct stat sent {}, got {};
    ASSERT_EQ(::fstat(fds[i], &sent), 0);
    ASSERT_EQ(::fstat(r.fds[i].get(), &got), 0);
    EXPECT_EQ(sent.st_ino, got.st_ino) << "descriptor " << i;
    EXPECT_EQ(::fcntl(r.fds[i].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  }
  for (auto& pp : pipes) ::close(pp[0]), ::close(pp[1]);
  std::vector<std::string> huge = {"resume", std::string(kMaxRequest, 'x')};
  EXPECT_THROW(send_request(p.a, start, huge, fds), UsageError);
}

TEST(PoolWire, MalformedRequestsAreErrorsNamingTheFault) {
  Pair p;
  ASSERT_GE(p.a, 0);
  const std::string ok = std::string("amber-pool 1\n123\n") + "resume" + '\0' + "vm.amber" + '\0';
  send_raw(p.a, ok, 4);
  EXPECT_EQ(error_of(p.b), "(accepted)");
  send_raw(p.a, ok, 0);
  EXPECT_EQ(error_of(p.b), "pool: the request carries 0 descriptors, not 4");
  send_raw(p.a, ok, 3);
  EXPECT_EQ(error_of(p.b), "pool: the request carries 3 descriptors, not 4");
  send_raw(p.a, ok, 6);  // what does not fit is closed by the kernel
  EXPECT_EQ(error_of(p.b), "pool: the request carries more than 4 descriptors");
}

TEST(PoolWire, MalformedBodiesAndAnswers) {
  Pair p;
  ASSERT_GE(p.a, 0);
  auto bad = [&](const std::string& body) {
    send_raw(p.a, body, 4);
    return error_of(p.b);
  };
  EXPECT_EQ(bad("GET / HTTP/1.0\r\n\r\n"), "pool: not an amber pool request (another amber version?)");
  EXPECT_EQ(bad("amber-pool 1\n"), "pool: the request has no start time");
  EXPECT_EQ(bad("amber-pool 1\n12x\nresume"), "pool: the request's start time is not a number");
  EXPECT_EQ(bad("amber-pool 1\n99999999999999999999999\nresume"), "pool: the request has no start time");
  EXPECT_EQ(bad(std::string("amber-pool 1\n1\nresume") + '\0' + "vm"), "pool: the request's last argument is not terminated");
  EXPECT_EQ(bad(std::string("amber-pool 1\n1\nrun") + '\0'), "pool: only 'amber resume' requests are served");
  EXPECT_EQ(bad("amber-pool 1\n1\n"), "pool: only 'amber resume' requests are served");
  std::string many = "amber-pool 1\n1\n";
  for (size_t i = 0; i <= kMaxArgs; ++i) many += std::string("resume") + '\0';
  EXPECT_EQ(bad(many), "pool: more than 512 arguments");
  EXPECT_EQ(bad("amber-pool 1\n1\n" + std::string(kMaxRequest + 100, 'x')), "pool: the request is too large");

  auto status = [&](const std::string& answer) -> std::string {
    if (!answer.empty()) send_answer(p.a, answer);
    try {
      return std::to_string(receive_status(p.b, "s.sock"));
    } catch (const Error& e) {
      return e.what();
    }
  };
  EXPECT_EQ(status("status 85"), "85");
  EXPECT_EQ(status("status 0"), "0");
  EXPECT_EQ(status("error this pool serves uid 0 only, not uid 1000"), "this pool serves uid 0 only, not uid 1000");
  EXPECT_EQ(status("status 256"), "--pool: a malformed answer from the pool");
  EXPECT_EQ(status("status -1"), "--pool: a malformed answer from the pool");
  EXPECT_EQ(status("status "), "--pool: a malformed answer from the pool");
  EXPECT_EQ(status("hello"), "--pool: a malformed answer from the pool");
  ::shutdown(p.a, SHUT_WR);
  EXPECT_EQ(status(""), "--pool s.sock: the pool's worker ended without an exit status (its messages, if any, are "
                        "above)");
}

}  // namespace
}  // namespace amber::cli::pool_wire
