#include "vmm/console.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "amber/error.h"
#include "amber/thread_role.h"

namespace amber::vmm {

namespace {
constexpr uint8_t kEscape = 0x01;  // Ctrl-A, as in QEMU

// The terminal a raw-mode Console must give back even when amber ends from
// a signal handler (a forbidden system call, src/sandbox/syscall_filter.cpp):
// written once before any VM thread starts, read there with tcsetattr
// (an ioctl, async-signal-safe).
termios g_fatal_saved{};
std::atomic<int> g_fatal_fd{-1};
void restore_terminal_on_fatal() noexcept {
  int fd = g_fatal_fd.load();
  if (fd >= 0) tcsetattr(fd, TCSANOW, &g_fatal_saved);
}
}  // namespace

Console::Console(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {
  int wake[2];
  check_sys(pipe2(wake, O_CLOEXEC | O_NONBLOCK), "pipe2");
  wake_read_.reset(wake[0]);
  wake_write_.reset(wake[1]);
  if (isatty(in_fd_) && tcgetattr(in_fd_, &saved_) == 0) {
    termios raw = saved_;
    cfmakeraw(&raw);
    if (tcsetattr(in_fd_, TCSANOW, &raw) == 0) raw_ = true;
    if (raw_) {
      g_fatal_saved = saved_;
      g_fatal_fd.store(in_fd_);
      set_fatal_cleanup(restore_terminal_on_fatal);
    }
  }
}

Console::~Console() {
  stop_input();
  restore_terminal();
}

void Console::restore_terminal() noexcept {
  if (raw_) {
    g_fatal_fd.store(-1);
    tcsetattr(in_fd_, TCSANOW, &saved_);
    raw_ = false;
  }
}

void Console::write_output(std::span<const uint8_t> bytes) noexcept {
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(out_fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // stdout gone (closed pipe): drop output, keep the guest running
    }
    p += n;
    left -= size_t(n);
  }
}

void Console::start_input(Deliver deliver, std::function<void()> on_quit) {
  deliver_ = std::move(deliver);
  on_quit_ = std::move(on_quit);
  thread_ = std::thread([this] { input_loop(); });
}

void Console::stop_input() {
  if (!thread_.joinable()) return;
  stop_ = true;
  uint8_t b = 1;
  [[maybe_unused]] auto r = ::write(wake_write_.get(), &b, 1);
  thread_.join();
}

void Console::input_loop() {
  enter_thread_role(ThreadRole::kConsole);
  bool escape = false;
  std::vector<uint8_t> pending;
  while (!stop_) {
    pollfd fds[2] = {{in_fd_, POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    // While the guest's FIFO is full, poll only with a short timeout so the
    // rest is delivered as the guest drains it.
    int timeout = pending.empty() ? -1 : 2;
    int n = poll(fds, pending.empty() ? 2 : 0, timeout);
    if (n < 0 && errno != EINTR) return;
    if (!pending.empty()) {
      size_t took = deliver_(pending);
      pending.erase(pending.begin(), pending.begin() + took);
      continue;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    uint8_t buf[256];
    ssize_t got = ::read(in_fd_, buf, sizeof buf);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      return;  // EOF: no more input; the guest keeps running
    }
    for (ssize_t i = 0; i < got; ++i) {
      uint8_t c = buf[i];
      if (raw_ && escape) {
        escape = false;
        if (c == 'x' || c == 'X') {
          if (on_quit_) on_quit_();
          return;
        }
        if (c == kEscape) pending.push_back(c);
        continue;
      }
      if (raw_ && c == kEscape) {
        escape = true;
        continue;
      }
      pending.push_back(c);
    }
    size_t took = deliver_(pending);
    pending.erase(pending.begin(), pending.begin() + took);
  }
}

}  // namespace amber::vmm
