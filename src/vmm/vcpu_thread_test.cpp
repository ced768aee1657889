#include "vmm/vcpu_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace amber::vmm {
namespace {

using namespace std::chrono_literals;

// A vCPU that "runs" by producing one port write per call (like a guest in
// a tight out loop) and honours immediate_exit like KVM does.
class SpinningVcpu : public hv::Vcpu {
 public:
  uint32_t index() const override { return 0; }
  hv::VcpuExit run() override {
    std::this_thread::sleep_for(50us);
    if (immediate_exit_.load()) return hv::Interrupted{};
    if (shutdown_after_ && runs_.load() >= shutdown_after_) return hv::Shutdown{};
    ++runs_;
    return hv::IoOut{0x520, 1, 1, {}};
  }
  void set_immediate_exit(bool on) noexcept override { immediate_exit_ = on; }
  void set_boot_state(const CpuBootState&) override {}
  StateNode save_state() override {
    saved_on_ = std::this_thread::get_id();
    StateNode n;
    n.props["runs"] = {uint8_t(runs_.load())};
    return n;
  }
  void restore_state(const StateNode&) override {}
  std::string describe_registers() override { return "rip=0"; }
  hv::DebugRegs debug_registers() override { return {}; }
  void set_debug_registers(const hv::DebugRegs&) override {}
  void set_guest_debug(const hv::GuestDebug&) override {}

  std::atomic<bool> immediate_exit_{false};
  std::atomic<uint64_t> runs_{0};
  uint64_t shutdown_after_ = 0;
  std::thread::id saved_on_;
};

struct VcpuThreadTest : ::testing::Test {
  static void SetUpTestSuite() { VcpuThread::install_kick_handler(); }
  SpinningVcpu vcpu;
  std::atomic<int> exits{0};
  std::atomic<int> stops{0};
  ExitAction last_stop{};
  VcpuThread::ExitFn on_exit = [this](const hv::VcpuExit&) {
    ++exits;
    return ExitResult{};
  };
  VcpuThread::StopFn on_stop = [this](uint32_t, const ExitResult& r) {
    last_stop = r.action;
    ++stops;
  };
};

TEST_F(VcpuThreadTest, PauseStopsTheGuestAndResumeContinues) {
  VcpuThread t(vcpu, on_exit, on_stop);
  t.start();
  while (exits < 20) std::this_thread::sleep_for(1ms);
  t.pause();
  int at_pause = exits;
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(exits, at_pause) << "a paused vCPU kept running";
  t.resume();
  while (exits < at_pause + 20) std::this_thread::sleep_for(1ms);
  t.request_stop();
  t.join();
  EXPECT_EQ(stops, 0) << "stop() is not reported as a guest stop";
}

TEST_F(VcpuThreadTest, TasksRunOnTheVcpuThread) {
  VcpuThread t(vcpu, on_exit, on_stop);
  t.start(/*paused=*/true);
  t.pause();
  StateNode n;
  t.run_on_thread([&](hv::Vcpu& v) { n = v.save_state(); });
  EXPECT_NE(vcpu.saved_on_, std::this_thread::get_id());
  EXPECT_EQ(vcpu.runs_, 0u) << "a vCPU started paused must not run";
  EXPECT_THROW(t.run_on_thread([](hv::Vcpu&) { throw Error("boom"); }), Error);
}

TEST_F(VcpuThreadTest, TaskOnARunningVcpuIsRefused) {
  VcpuThread t(vcpu, on_exit, on_stop);
  t.start();
  while (exits < 5) std::this_thread::sleep_for(1ms);
  EXPECT_THROW(t.run_on_thread([](hv::Vcpu&) {}), Error);
}

TEST_F(VcpuThreadTest, GuestShutdownEndsTheLoopAndIsReported) {
  vcpu.shutdown_after_ = 10;
  VcpuThread t(vcpu, [](const hv::VcpuExit& e) { return ExitResult{std::holds_alternative<hv::Shutdown>(e) ? ExitAction::kShutdown : ExitAction::kContinue, {}}; }, on_stop);
  t.start();
  t.join();
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(last_stop, ExitAction::kShutdown);
  t.pause();  // pausing a finished vCPU returns at once
}

TEST_F(VcpuThreadTest, ManyPauseResumeCyclesNeverLoseAKick) {
  VcpuThread t(vcpu, on_exit, on_stop);
  t.start();
  for (int i = 0; i < 200; ++i) {
    t.pause();
    t.resume();
  }
  t.pause();
  int at_pause = exits;
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(exits, at_pause);
}

// The guest-requested save: the exit handler of the vCPU that rang holds
// it, so the vCPU does not re-enter the guest until the VMM resumes it.
TEST_F(VcpuThreadTest, HoldCurrentParksTheVcpuBeforeItReentersTheGuest) {
  EXPECT_FALSE(VcpuThread::hold_current()) << "not a vCPU thread";
  std::atomic<bool> held{false};
  VcpuThread t(vcpu, [&](const hv::VcpuExit&) {
    if (++exits == 10) held = VcpuThread::hold_current();
    return ExitResult{};
  }, on_stop);
  t.start();
  while (exits < 10) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(held);
  EXPECT_EQ(exits, 10) << "the vCPU ran on after its exit handler held it";
  EXPECT_EQ(vcpu.runs_, 10u);
  t.pause();  // returns: it is parked
  StateNode n;
  t.run_on_thread([&](hv::Vcpu& v) { n = v.save_state(); });  // allowed only while parked
  t.resume();
  while (exits < 20) std::this_thread::sleep_for(1ms);
  t.request_stop();
  t.join();
}

}  // namespace
}  // namespace amber::vmm
