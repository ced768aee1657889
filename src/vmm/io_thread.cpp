#include "vmm/io_thread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "amber/error.h"
#include "amber/thread_role.h"

namespace amber::vmm {

IoThread::IoThread() {
  epoll_.reset(check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1"));
  wake_fd_.reset(check_sys(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = ~0ull;
  check_sys(epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev), "epoll_ctl");
}

IoThread::~IoThread() { stop(); }  // then the members close the sources, wake_fd_, epoll_

void IoThread::add(int fd, std::function<void()> handler) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = sources_.size();
  sources_.push_back({UniqueFd(fd), std::move(handler)});
  check_sys(epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl(ioeventfd)");
}

void IoThread::start() {
  if (!sources_.empty()) thread_ = std::thread([this] { loop(); });
}

void IoThread::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_.get(), &one, sizeof one);
}

void IoThread::request_pause() {
  if (!thread_.joinable()) return;
  std::lock_guard lk(mu_);
  pause_ = true;
  wake();
}

void IoThread::pause() {
  if (!thread_.joinable()) return;
  std::unique_lock lk(mu_);
  pause_ = true;
  wake();
  cv_.wait(lk, [&] { return parked_; });
}

bool IoThread::pause_requested() {
  std::lock_guard lk(mu_);
  return pause_;
}

void IoThread::resume() {
  std::lock_guard lk(mu_);
  pause_ = false;
  cv_.notify_all();
}

void IoThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  wake();
  thread_.join();
}

void IoThread::loop() {
  enter_thread_role(ThreadRole::kIo);
  epoll_event events[16];
  for (;;) {
    {
      std::unique_lock lk(mu_);
      while (pause_ && !stop_) {
        parked_ = true;
        cv_.notify_all();
        cv_.wait(lk);
      }
      parked_ = false;
      if (stop_) return;
    }
    int n = epoll_wait(epoll_.get(), events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t count;
      if (events[i].data.u64 == ~0ull) {
        [[maybe_unused]] auto r = ::read(wake_fd_.get(), &count, sizeof count);
        continue;
      }
      {
        // Checked before every handler, not once per epoll_wait: a batch
        // may hold notifications that arrived before the pause was asked
        // for but were not served yet. They stay pending in their eventfd
        // (epoll is level-triggered) for after resume().
        std::lock_guard lk(mu_);
        if (pause_ || stop_) break;
      }
      auto& src = sources_[events[i].data.u64];
      if (::read(src.fd.get(), &count, sizeof count) == sizeof count) src.handler();
    }
  }
}

}  // namespace amber::vmm
