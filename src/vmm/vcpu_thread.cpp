#include "vmm/vcpu_thread.h"

#include <signal.h>

#include "amber/error.h"
#include "amber/log.h"
#include "amber/thread_role.h"

namespace amber::vmm {

namespace {
// The vCPU that runs on this thread, for the kick signal handler.
thread_local hv::Vcpu* t_vcpu = nullptr;
// The VcpuThread whose loop runs on this thread, for hold_current().
thread_local VcpuThread* t_self = nullptr;

int kick_signal() { return SIGRTMIN; }

void on_kick(int) {
  // Async-signal-safe: only a store into the mmapped kvm_run.
  if (t_vcpu) t_vcpu->set_immediate_exit(true);
}
}  // namespace

void VcpuThread::install_kick_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  check_sys(sigaction(kick_signal(), &sa, nullptr), "sigaction(kick signal)");
}

VcpuThread::VcpuThread(hv::Vcpu& vcpu, ExitFn on_exit, StopFn on_stop)
    : vcpu_(vcpu), on_exit_(std::move(on_exit)), on_stop_(std::move(on_stop)) {}

VcpuThread::~VcpuThread() {
  request_stop();
  join();
}

void VcpuThread::start(bool paused) {
  {
    std::lock_guard lk(mu_);
    pause_ = paused;
  }
  thread_ = std::thread([this] { loop(); });
  handle_ = thread_.native_handle();
}

void VcpuThread::kick() noexcept {
  if (thread_.joinable()) pthread_kill(handle_, kick_signal());
}

void VcpuThread::pause() {
  std::unique_lock lk(mu_);
  pause_ = true;
  kick();
  cv_.wait(lk, [&] { return parked_ || finished_ || !thread_.joinable(); });
}

void VcpuThread::resume() {
  std::lock_guard lk(mu_);
  pause_ = false;
  cv_.notify_all();
}

void VcpuThread::run_on_thread(const std::function<void(hv::Vcpu&)>& task) {
  std::unique_lock lk(mu_);
  if (!thread_.joinable() || finished_) {
    // No loop to hand the task to (not started, or finished): the calling
    // thread is the only one touching the vCPU now.
    lk.unlock();
    task(vcpu_);
    return;
  }
  if (!parked_) throw Error("vCPU task requested while the vCPU is running");
  task_ = &task;
  task_done_ = false;
  task_error_ = nullptr;
  cv_.notify_all();
  cv_.wait(lk, [&] { return task_done_; });
  task_ = nullptr;
  if (task_error_) std::rethrow_exception(task_error_);
}

bool VcpuThread::hold_current() noexcept {
  VcpuThread* self = t_self;
  if (!self) return false;
  std::lock_guard lk(self->mu_);
  self->pause_ = true;  // loop() parks before its next KVM_RUN
  return true;
}

void VcpuThread::request_stop() noexcept {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  kick();
}

void VcpuThread::join() {
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

void VcpuThread::loop() {
  enter_thread_role(ThreadRole::kVcpu);  // its seccomp filter, before the first KVM_RUN
  t_vcpu = &vcpu_;
  t_self = this;
  ExitResult end;
  bool notify_stop = false;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      for (;;) {
        if (task_ && !task_done_) {
          try {
            (*task_)(vcpu_);
          } catch (...) {
            task_error_ = std::current_exception();
          }
          task_done_ = true;
          cv_.notify_all();
          continue;
        }
        if (stop_) break;
        if (!pause_) break;
        parked_ = true;
        cv_.notify_all();
        cv_.wait(lk);
      }
      parked_ = false;
      if (stop_) break;
    }
    hv::VcpuExit exit;
    try {
      exit = vcpu_.run();
    } catch (const std::exception& e) {
      end = {ExitAction::kError, e.what()};
      notify_stop = true;
      break;
    }
    if (std::holds_alternative<hv::Interrupted>(exit)) {
      vcpu_.set_immediate_exit(false);
      continue;
    }
    ExitResult r = on_exit_(exit);
    if (r.action == ExitAction::kContinue || r.action == ExitAction::kInterrupted) continue;
    end = r;
    notify_stop = true;
    break;
  }
  {
    std::lock_guard lk(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  if (notify_stop && on_stop_) on_stop_(vcpu_.index(), end);
  t_vcpu = nullptr;
  t_self = nullptr;
}

}  // namespace amber::vmm
