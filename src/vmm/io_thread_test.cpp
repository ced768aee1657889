#include "vmm/io_thread.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace amber::vmm {
namespace {

using namespace std::chrono_literals;

void kick(int fd) {
  uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof one), ssize_t(sizeof one));
}

template <class F>
bool wait_for(F done, std::chrono::milliseconds limit = 2000ms) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

TEST(IoThread, ServesEachNotification) {
  IoThread io;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<int> calls{0};
  io.add(fd, [&] { ++calls; });
  io.start();
  kick(fd);
  EXPECT_TRUE(wait_for([&] { return calls == 1; }));
  kick(fd);
  EXPECT_TRUE(wait_for([&] { return calls == 2; }));
}

// Two queues were kicked; the I/O thread is serving one of them when the
// VMM pauses it (a save). The other must not be served while paused: it
// stays pending, so a snapshot taken now leaves it for each clone to serve,
// and it is served after resume().
TEST(IoThread, AKickNotServedWhenThePauseIsAskedForWaitsForResume) {
  IoThread io;
  int fds[2] = {eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::atomic<int> calls{0};
  std::atomic<bool> entered{false}, release{false};
  for (int fd : fds) {
    io.add(fd, [&] {
      if (calls++ == 0) {  // the first request served: in flight until released
        entered = true;
        while (!release) std::this_thread::sleep_for(100us);
      }
    });
  }
  // Both kicks are pending before the thread starts, so its first
  // epoll_wait reports both at once.
  kick(fds[0]);
  kick(fds[1]);
  io.start();
  ASSERT_TRUE(wait_for([&] { return entered.load(); }));
  // The pause is asked for while the request is in flight, here rather than
  // only in the pauser thread: on a loaded machine that thread could start
  // after `release` (a unit run at load 7 saw the second kick served so).
  io.request_pause();
  std::atomic<bool> paused{false};
  std::thread pauser([&] {
    io.pause();
    paused = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(paused) << "pause() returned while a handler was running";
  release = true;
  pauser.join();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls, 1) << "a pending kick was served after the pause was asked for";
  io.resume();
  EXPECT_TRUE(wait_for([&] { return calls == 2; })) << "the pending kick was lost";
}

TEST(IoThread, NothingIsServedWhilePaused) {
  IoThread io;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<int> calls{0};
  io.add(fd, [&] { ++calls; });
  io.start();
  io.pause();
  kick(fd);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls, 0);
  io.resume();
  EXPECT_TRUE(wait_for([&] { return calls == 1; }));
  io.request_pause();
  kick(fd);
  io.pause();
  std::this_thread::sleep_for(20ms);
  EXPECT_LE(calls, 1) << "served after request_pause()";
  io.resume();
  EXPECT_TRUE(wait_for([&] { return calls == 2; }));
}

}  // namespace
}  // namespace amber::vmm
