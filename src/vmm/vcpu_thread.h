#pragma once
// One thread per vCPU, with a small command channel: pause, resume, run a
// task on the vCPU's own thread (KVM requires vCPU ioctls there for state
// save/restore), stop. A running vCPU is kicked out of KVM_RUN with a
// signal whose handler sets kvm_run->immediate_exit (api.rst,
// "immediate_exit"), so a kick can never be lost between the flag check
// and KVM_RUN.
#include <pthread.h>

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "hv/hypervisor.h"
#include "vmm/exit_handler.h"

namespace amber::vmm {

class VcpuThread {
 public:
  // on_exit handles every exit except kicks; on_stop is called once, on the
  // vCPU thread, when the loop ends for a reason other than stop().
  using ExitFn = std::function<ExitResult(const hv::VcpuExit&)>;
  using StopFn = std::function<void(uint32_t index, const ExitResult&)>;

  VcpuThread(hv::Vcpu& vcpu, ExitFn on_exit, StopFn on_stop);
  ~VcpuThread();
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;

  // Starts the thread; with `paused` it parks before its first KVM_RUN.
  void start(bool paused = false);
  // Returns once the vCPU is out of KVM_RUN and parked (or has finished).
  void pause();
  void resume();
  // Runs `task` on the vCPU thread while it is parked; rethrows its exception.
  void run_on_thread(const std::function<void(hv::Vcpu&)>& task);
  // For an exit handler, on the vCPU's own thread: the vCPU parks before it
  // re-enters the guest, as if pause() had been called, and stays parked
  // until resume(). The guest-requested save uses it so that the vCPU that
  // rang does not run on past its request (Machine::request_guest_save).
  // Returns false, doing nothing, on any other thread.
  static bool hold_current() noexcept;
  // Asks the loop to end without waiting (safe from any thread, including
  // this vCPU's own exit handler); join() waits.
  void request_stop() noexcept;
  void join();

  uint32_t index() const { return vcpu_.index(); }

  // Installs the kick signal handler; called once per process by the VMM.
  static void install_kick_handler();

 private:
  void loop();
  void kick() noexcept;

  hv::Vcpu& vcpu_;
  ExitFn on_exit_;
  StopFn on_stop_;
  std::thread thread_;
  pthread_t handle_{};

  std::mutex mu_;
  std::condition_variable cv_;
  bool pause_ = false, parked_ = false, stop_ = false, finished_ = false;
  const std::function<void(hv::Vcpu&)>* task_ = nullptr;
  std::exception_ptr task_error_;
  bool task_done_ = false;
};

}  // namespace amber::vmm
