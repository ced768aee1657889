#pragma once
// The I/O thread: waits on the ioeventfds of every virtqueue and runs the
// queue's handler when the guest notifies it, so a virtio notification costs
// no exit to userspace on the vCPU thread (KVM_IOEVENTFD).
//
// Snapshot rule (docs/disks.md): handlers run to completion inside this
// thread, so once pause() returns no request is in flight. A notification
// that has not reached its handler when the pause is requested stays
// pending in its eventfd: it is served after resume(), and a VM restored
// from an image taken meanwhile serves the queue itself (the VMM notifies
// every queue after a restore). So a request the guest published before a
// save but that was not served yet is served by each clone, not once,
// before the capture, for all of them alike (docs/entropy.md).
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "amber/unique_fd.h"

namespace amber::vmm {

class IoThread {
 public:
  IoThread();
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Registers an eventfd (owned by the IoThread from now on) and its
  // handler; call before start().
  void add(int eventfd, std::function<void()> handler);
  void start();
  // From now on no handler starts (the one running may finish); returns at once.
  void request_pause();
  void pause();   // returns once no handler is running and none will start
  // Whether a pause has been asked for and not yet undone by resume(); safe
  // from any thread. Lets a test hold a request in flight until the pause
  // that must wait for it has begun (src/vmm/inflight_kvm_test.cpp).
  bool pause_requested();
  void resume();
  void stop();

 private:
  void loop();
  void wake();

  // Declared before sources_: destroyed after them, as in stop-then-close.
  UniqueFd epoll_, wake_fd_;
  struct Source {
    UniqueFd fd;
    std::function<void()> handler;
  };
  std::vector<Source> sources_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pause_ = false, parked_ = false, stop_ = false;
};

}  // namespace amber::vmm
