#pragma once
// The host side of the guest's serial console: guest output to stdout,
// stdin into the UART's receive FIFO. When stdin is a terminal it is put in
// raw mode (like `qemu -nographic`) and restored on exit; Ctrl-A x quits,
// Ctrl-A Ctrl-A sends a literal Ctrl-A (docs/cli.md).
#include <termios.h>

#include <atomic>
#include <functional>
#include <span>
#include <thread>

#include "amber/unique_fd.h"

namespace amber::vmm {

class Console {
 public:
  // `deliver` offers input bytes to the guest and returns how many it took;
  // `on_quit` is called (on the console thread) for the escape sequence.
  using Deliver = std::function<size_t(std::span<const uint8_t>)>;
  Console(int in_fd, int out_fd);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Guest output; called from vCPU threads.
  void write_output(std::span<const uint8_t> bytes) noexcept;
  // Starts the input thread (no-op when stdin is closed or /dev/null-like EOF).
  void start_input(Deliver deliver, std::function<void()> on_quit);
  void stop_input();
  bool raw_mode() const { return raw_; }
  void restore_terminal() noexcept;

 private:
  void input_loop();

  int in_fd_, out_fd_;
  bool raw_ = false;
  termios saved_{};
  UniqueFd wake_read_, wake_write_;  // self-pipe that wakes the input thread
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Deliver deliver_;
  std::function<void()> on_quit_;
};

}  // namespace amber::vmm
