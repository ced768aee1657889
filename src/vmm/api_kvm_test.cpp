// Guest-initiated saves (the two doorbells) and the in-place reset, on real
// KVM with the `doorbell` bare-metal guest (guest-tests/bare/doorbell.S).
// Runs natively where /dev/kvm exists, otherwise inside tools/kvm-sandbox.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <thread>

#include "vmm/bare_vm_harness.h"

namespace amber::vmm {
namespace {

using testing::BareVm;

RunOptions save_to(const std::string& path) {
  RunOptions o;
  o.save_path = path;
  return o;
}

struct TempDir {
  std::string path;
  TempDir() {
    char d[] = "/tmp/amber-api-test-XXXXXX";
    path = mkdtemp(d);
  }
  ~TempDir() { (void)!system(("rm -rf " + path).c_str()); }
};

void expect_consecutive(const std::vector<uint32_t>& v, size_t from, size_t to) {
  for (size_t i = from + 1; i < to; ++i) ASSERT_EQ(v[i], v[i - 1] + 1) << "at index " << i;
}

TEST(GuestSave, BothDoorbellsSaveAndTheResumedVmContinuesExactly) {
  TempDir dir;
  std::string a = dir.path + "/port.amber", b = dir.path + "/out1.amber";

  BareVm first;
  first.boot("doorbell");
  auto r1 = first.m->run(save_to(a));  // rung through port 0x5a0 at 1000
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  std::vector<uint32_t> v1 = first.port.values;
  ASSERT_GE(v1.back(), 1000u);
  ASSERT_LT(v1.back(), 2000u);
  first.m.reset();

  auto img_a = image::Image::open(a);
  BareVm second;
  second.resume(img_a);
  auto r2 = second.m->run(save_to(b));  // rung through UART OUT1 at 2000
  ASSERT_EQ(r2.reason, StopReason::kSaved) << r2.message;
  std::vector<uint32_t> v2 = second.port.values;
  ASSERT_FALSE(v2.empty());
  EXPECT_EQ(v2.front(), v1.back() + 1);
  expect_consecutive(v2, 0, v2.size());
  ASSERT_GE(v2.back(), 2000u);
  ASSERT_LT(v2.back(), 3000u);
  second.m.reset();

  auto img_b = image::Image::open(b);
  BareVm third;
  third.resume(img_b);
  auto r3 = third.m->run({});
  ASSERT_EQ(r3.reason, StopReason::kGuestReset) << r3.message;
  ASSERT_FALSE(third.port.values.empty());
  EXPECT_EQ(third.port.values.front(), v2.back() + 1);
  expect_consecutive(third.port.values, 0, third.port.values.size());
  EXPECT_EQ(third.port.values.back(), 3000u);
  EXPECT_NE(third.out.find("doorbell done 3000"), std::string::npos) << third.out;
}

TEST(GuestSave, WithoutASavePathTheDoorbellsAreIgnored) {
  BareVm vm;
  vm.boot("doorbell");
  auto r = vm.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_EQ(vm.port.values.size(), 3000u);
  expect_consecutive(vm.port.values, 0, 3000);
}

TEST(Reset, ABootedVmRefusesToReset) {
  BareVm vm;
  vm.boot("doorbell");
  EXPECT_THROW(vm.m->reset_to_origin(), Error);
}

// Resume the image saved at ~1000, let it run a little, reset it mid-run:
// the guest must continue from the image's point again (image + 1), with
// its RAM (the counter lives in guest memory) back to the image's bytes.
TEST(Reset, ResetMidRunContinuesFromTheImageAgain) {
  TempDir dir;
  std::string a = dir.path + "/port.amber";
  BareVm first;
  first.boot("doorbell");
  auto r1 = first.m->run(save_to(a));
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  uint32_t point = first.port.values.back();
  first.m.reset();

  auto img = image::Image::open(a);
  BareVm vm;
  vm.resume(img);
  std::promise<std::string> reset_done;
  std::atomic<bool> quit{false};
  std::thread watcher([&] {
    while (!quit && vm.port.count() < 100) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (quit) return;
    vm.m->post_task([&] {
      try {
        vm.m->reset_to_origin();
        reset_done.set_value("ok");
      } catch (const std::exception& e) {
        reset_done.set_value(e.what());
        // A failed reset leaves the VM paused: end the run, or it would
        // wait for the guest forever.
        vm.m->request_stop(StopReason::kError, std::string("reset failed: ") + e.what());
      }
    });
  });
  auto r = vm.m->run({});  // the doorbell at 2000 is ignored: no save path
  quit = true;
  watcher.join();
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  auto f = reset_done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "the reset never ran";
  ASSERT_EQ(f.get(), "ok");

  const auto& v = vm.port.values;
  ASSERT_GE(v.size(), 100u);
  EXPECT_EQ(v.front(), point + 1);
  size_t jump = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] != v[i - 1] + 1) {
      ASSERT_EQ(jump, 0u) << "more than one discontinuity, at " << jump << " and " << i;
      jump = i;
    }
  ASSERT_NE(jump, 0u) << "no reset visible in the sequence";
  EXPECT_GE(jump, 100u);
  EXPECT_EQ(v[jump], point + 1) << "after the reset the guest did not continue from the image";
  EXPECT_EQ(v.back(), 3000u);
  EXPECT_NE(vm.out.find("doorbell done 3000"), std::string::npos) << vm.out;
}

}  // namespace
}  // namespace amber::vmm
