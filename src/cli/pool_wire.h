#pragma once
// The warm pool's wire format (docs/pool.md), one seqpacket record each way
// over the pool's Unix socket:
//   request  "amber-pool 1\n", the client's start time (CLOCK_MONOTONIC ns,
//            for --timings) and "\n", then amber's arguments, each ended by
//            a NUL; with it, as SCM_RIGHTS, the client's working directory,
//            stdin, stdout and stderr, in that order.
//   answer   "status N" (the resume's exit status), or "error TEXT" when
//            the request was not run.
// The worker reads requests from any process of the pool's user: every
// field is checked here, and a bad request is an Error, never a crash.
#include <sys/un.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "amber/unique_fd.h"

namespace amber::cli::pool_wire {

inline constexpr size_t kMaxRequest = 64 << 10;
inline constexpr size_t kMaxArgs = 512;
inline constexpr int kRequestFds = 4;

struct Request {
  std::vector<std::string> args;
  std::chrono::steady_clock::time_point client_start;
  UniqueFd fds[kRequestFds];  // cwd, stdin, stdout, stderr
};

// The socket's address; UsageError for a path that does not fit.
sockaddr_un socket_address(const std::string& path);

// Sends the request (UsageError when too large, SysError when it cannot).
void send_request(int sock, std::chrono::steady_clock::time_point start, const std::vector<std::string>& args,
                  const int (&fds)[kRequestFds]);
// Receives one; Error naming what is wrong with it. The arguments must be
// an `amber resume`.
Request receive_request(int sock);

void send_answer(int sock, const std::string& text);  // best effort
// "status N" gives N; "error TEXT" is thrown as Error(TEXT); anything else,
// and end of file, is an Error too.
int receive_status(int sock, const std::string& socket_path);

}  // namespace amber::cli::pool_wire
