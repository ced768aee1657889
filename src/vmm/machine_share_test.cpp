// A VM with a --share (virtio-9p, docs/shares.md): its device is registered
// after the rng, and every save path refuses before pausing, leaving any
// earlier image file as it was.
#include <fstream>

#include "virtio/testing/temp_dir.h"
#include "vmm/machine_test_support.h"

namespace amber::vmm::testing {
namespace {

MachineConfig share_config(const std::string& dir) {
  MachineConfig cfg = small_config(/*rng=*/true);
  cfg.shares.push_back({dir, "share0", false});
  return cfg;
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(MachineShare, TheShareIsAVirtioDeviceAfterTheRng) {
  block::testing::TempDir dir;
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, share_config(dir.path()));
  EXPECT_EQ(m->virtio_cmdline(),
            "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
  // The second window answers as device ID 9.
  uint64_t v = 0;
  std::span<uint8_t> out(reinterpret_cast<uint8_t*>(&v), 4);
  ASSERT_TRUE(m->mmio().read(0xd0001000 + mmio::kDeviceId, out));
  EXPECT_EQ(v, 9u);
}

TEST(MachineShare, AMissingShareDirectoryIsAnError) {
  hv::FakeHypervisor hv;
  EXPECT_THROW(make_machine(hv, share_config("/nonexistent-amber-share")), Error);
}

TEST(MachineShare, SaveImageIsRefusedAndAnEarlierImageStays) {
  block::testing::TempDir dir;
  TempImage img;
  { std::ofstream(img.path) << "an earlier image"; }
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, share_config(dir.path()));
  EXPECT_NE(m->save_refusal().find("--share"), std::string::npos);
  try {
    m->save_image(img.path, false);
    ADD_FAILURE() << "saved a VM with a share";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("save refused: ", 0), 0u) << e.what();
  }
  EXPECT_EQ(contents(img.path), "an earlier image");
  EXPECT_FALSE(m->paused());
}

TEST(MachineShare, AnApiSaveIsAnErrorAnswerAndTheVmKeepsRunning) {
  block::testing::TempDir dir;
  TempImage img;
  { std::ofstream(img.path) << "an earlier image"; }
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, share_config(dir.path()));
  std::atomic<bool> go{false};
  std::string answer;
  bool paused_after = true;
  m->post_task([&] {
    api::Request r;
    r.cmd = api::Cmd::kSave;
    r.path = img.path;
    r.then_exit = true;
    answer = api::execute(*m, r);
    paused_after = m->paused();
    go = true;
  });
  vcpu_of(hv).push(SpinUntil{&go});
  Watchdog dog(*m, 10s);
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the save stopped the VM)";
  EXPECT_NE(answer.find("\"ok\":false"), std::string::npos) << answer;
  EXPECT_NE(answer.find("save refused"), std::string::npos) << answer;
  EXPECT_FALSE(paused_after);
  EXPECT_EQ(contents(img.path), "an earlier image");
}

TEST(MachineShare, AGuestSaveIsRefusedAndTheVmGoesOnWithThenContinue) {
  block::testing::TempDir dir;
  TempImage img;
  { std::ofstream(img.path) << "an earlier image"; }
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, share_config(dir.path()));
  std::atomic<bool> go{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);  // the doorbell holds this vCPU
  v.push(SpinUntil{&go});                                  // until the refusal lets it go
  RunOptions o;
  o.save_path = img.path;
  o.then_continue = true;
  std::string error;
  o.on_save_failed = [&](const std::string& e) {
    error = e;
    go = true;
  };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the vCPU that rang was not let go)";
  EXPECT_EQ(error.rfind("save refused: ", 0), 0u) << error;
  EXPECT_EQ(contents(img.path), "an earlier image");
}

TEST(MachineShare, AGuestSaveWithThenExitEndsTheRunWithTheRefusal) {
  block::testing::TempDir dir;
  TempImage img;
  hv::FakeHypervisor hv;
  auto m = make_machine(hv, share_config(dir.path()));
  std::atomic<bool> never{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
  v.push(SpinUntil{&never});
  RunOptions o;
  o.save_path = img.path;
  o.then_continue = false;
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  never = true;
  EXPECT_EQ(r.reason, StopReason::kError);
  EXPECT_EQ(r.message.rfind("save refused: ", 0), 0u) << r.message;
  EXPECT_EQ(contents(img.path), "");
}

}  // namespace
}  // namespace amber::vmm::testing
