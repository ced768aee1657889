#pragma once
// A child process driven through pipes, like a user at a terminal would drive
// `amber`: stdin/stdout/stderr are pipes, the child runs in its own process
// group (so a timeout can kill everything it started), and stdout is matched
// with expect() the way pexpect does.
//
// Every failure (missing text, timeout) is reported with ADD_FAILURE() and the
// transcript, and the call returns false / a timed-out status, so a test does
//   ASSERT_TRUE(p.expect("AMBER-READY"));
// and stops there with the console output in the log.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace lt {

using namespace std::chrono_literals;
using Seconds = std::chrono::seconds;

// How a process ended.
struct ExitStatus {
  enum Kind { kExited, kSignaled, kTimedOut, kNotStarted } kind = kNotStarted;
  int value = 0;  // exit code or signal number

  static ExitStatus exited(int code) { return {kExited, code}; }
  static ExitStatus signaled(int sig) { return {kSignaled, sig}; }
  bool operator==(const ExitStatus&) const = default;
  std::string str() const;
};
std::ostream& operator<<(std::ostream& os, const ExitStatus& s);
inline void PrintTo(const ExitStatus& s, std::ostream* os) { *os << s; }

// Removes '\r' and ANSI escape sequences (CSI, OSC, two-byte ESC x) from a
// byte stream fed in arbitrary chunks.
class AnsiStripper {
 public:
  void feed(const char* data, size_t n, std::string& out);

 private:
  enum { kText, kEsc, kCsi, kOsc } state_ = kText;
};

class Process {
 public:
  struct Options {
    std::string cwd;                          // empty: inherit
    std::map<std::string, std::string> env;  // added to / overriding the inherited environment
  };

  Process(std::vector<std::string> argv, Options opts);
  explicit Process(std::vector<std::string> argv) : Process(std::move(argv), Options{}) {}
  ~Process();  // kills the group if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

  // Waits until `text` appears in the cleaned stdout after the cursor; moves
  // the cursor past it. False (and a test failure with the transcript) on
  // timeout or when stdout ends first.
  bool expect(const std::string& text, Seconds timeout = 60s);
  // The same without reporting a failure (for polling).
  bool try_expect(const std::string& text, Seconds timeout);
  // The same with a regex (ECMAScript); fills *m with the groups.
  bool expect_regex(const std::string& re, std::vector<std::string>* groups = nullptr,
                    Seconds timeout = 60s);

  // Sends `text` to stdin as is (add "\n" yourself). False if stdin is closed.
  bool send(const std::string& text);
  void close_stdin();
  bool signal(int sig);  // to the child itself (not the group)

  // Waits for the exit. On timeout: SIGKILL to the group, a test failure with
  // the transcript, kTimedOut.
  ExitStatus wait(Seconds timeout = 60s);
  bool running();

  // The cleaned stdout (no '\r', no ANSI), the raw stderr, and a tail of both
  // for failure messages.
  std::string out() const;
  std::string err() const;
  std::string out_since_cursor() const;
  size_t cursor() const { return cursor_; }
  std::string transcript(size_t max_chars = 6000) const;

 private:
  bool expect_impl(const std::string& text, Seconds timeout, bool report);
  void reader_loop();
  void finish_reader();
  void kill_group();
  // SIGKILL to the group, then reaps the child; a child still there after
  // 20 s is stuck in the kernel: reported with thread_report(), abandoned
  // (the reader stops) instead of hanging the suite.
  void kill_and_reap();
  // Each thread of the child: name, state, kernel wait channel, system call
  // (a stalled guest: is its vCPU in KVM_RUN, or waiting on a lock?).
  std::string thread_report() const;

  std::string name_;
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> abandon_{false};  // the reader stops without waiting for EOF

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;  // cleaned
  std::string err_;
  bool out_eof_ = false;
  AnsiStripper strip_;

  size_t cursor_ = 0;
  std::optional<ExitStatus> status_;
};

// Runs a command to completion, stdin closed, and returns everything.
struct RunResult {
  ExitStatus status;
  std::string out, err;
  std::string transcript() const;
};
RunResult run(std::vector<std::string> argv, Seconds timeout = 60s);

// Runs argv (argv[0] a path) as uid and gid `id`, with no supplementary
// groups, in `cwd` (empty: this one), stdin /dev/null, stdout and stderr
// into the file `log`, or stderr into `err_log` where one is given (so that
// amber's own lines cannot split the guest's serial output). The exit status, 1000 + the signal that ended it, or
// -1 when it ran past `timeout` (then it is killed). The caller must be
// root (the non-root tests, docs/security.md).
int run_as(unsigned id, const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
           Seconds timeout = 180s, const std::string& err_log = "");

}  // namespace lt
