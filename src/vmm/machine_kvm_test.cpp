// Bare-metal guests on real KVM through the whole VMM (Machine): console,
// i8042 reboot, memory, and a save/restore into a fresh VM mid-loop.
// Runs natively where /dev/kvm exists, otherwise inside tools/kvm-sandbox.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <mutex>

#include "vmm/bare_vm_harness.h"

namespace amber::vmm {
namespace {

using testing::BareVm;

TEST(BareMetal, HelloPrintsAndRebootsThroughI8042) {
  BareVm h;
  h.boot("hello");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("Hello from a bare-metal amber guest"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterWritesEveryValueInOrder) {
  BareVm h;
  h.boot("counter");
  auto r = h.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_EQ(h.port.values.size(), 3000u);
  for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(h.port.values[i], i + 1);
  EXPECT_NE(h.out.find("counter done 3000"), std::string::npos) << h.out;
}

TEST(BareMetal, MemtestFillsAndChecks32MiB) {
  BareVm h;
  h.boot("memtest");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("memtest ok"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterSavedMidLoopContinuesExactlyInAFreshVm) {
  char dir[] = "/tmp/amber-kvm-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/counter.amber";

  BareVm first;
  first.boot("counter");
  auto r1 = first.m->run({"tick 1000", path, false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  std::vector<uint32_t> before = first.port.values;
  ASSERT_GE(before.size(), 1000u);
  ASSERT_LT(before.size(), 3000u);
  first.m.reset();

  auto img = image::Image::open(path);
  BareVm second;
  second.resume(img);
  auto r2 = second.m->run({});
  ASSERT_EQ(r2.reason, StopReason::kGuestReset) << r2.message;
  ASSERT_FALSE(second.port.values.empty());
  EXPECT_EQ(second.port.values.front(), before.back() + 1) << "the resumed guest did not continue where it stopped";
  for (size_t i = 1; i < second.port.values.size(); ++i) ASSERT_EQ(second.port.values[i], second.port.values[i - 1] + 1);
  EXPECT_EQ(second.port.values.back(), 3000u);
  EXPECT_NE(second.out.find("counter done 3000"), std::string::npos) << second.out;
  EXPECT_TRUE(img.verify().ok);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace amber::vmm
