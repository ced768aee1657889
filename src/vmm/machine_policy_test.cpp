// Machine with the fake hypervisor, continued from machine_test.cpp: the
// control port's move away from fw_cfg, debug-exit, the failure policy of
// triggered saves, and the control-socket commands through api::execute,
// without a socket.
#include "vmm/machine_test_support.h"

#include "firmware/multiboot.h"
#include "firmware/multiboot_test_support.h"
#include "vmm/machine_config_state.h"

namespace amber::vmm {
namespace {

using namespace testing;
using namespace std::chrono_literals;
namespace mmio = virtio::mmio;

// ---- the control port's move, fw_cfg, debug-exit ------------------------------

const DeviceEntry* entry(const Machine& m, std::string_view name) {
  for (auto& e : m.devices().entries())
    if (e.name == name) return &e;
  return nullptr;
}

// An image saved while the control port was at 0x510 has no "ctl_port" (nor
// "debug_exit_port") in its config: the VM resumed from it keeps the port at
// 0x510, so its guest's next ring still saves.
TEST(MachineCtlPort, AConfigWithoutTheCtlPortRestoresWithTheLegacyPort) {
  StateNode config = amber::save_state(to_state(small_config(/*rng=*/false)));
  ASSERT_TRUE(config.prop("ctl_port"));
  ASSERT_TRUE(config.prop("debug_exit_port"));
  config.props.erase("ctl_port");
  config.props.erase("debug_exit_port");
  MachineConfig cfg = from_state(load_state<ConfigState>(config, "config"));
  EXPECT_EQ(cfg.ctl_port, layout::kAmberCtlPortLegacy);
  EXPECT_EQ(cfg.debug_exit_port, 0);

  hv::FakeHypervisor hv;
  auto m = make_machine(hv, cfg);
  auto* ctl = entry(*m, "amber-ctl");
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->base, 0x510u);
  EXPECT_FALSE(entry(*m, "fw-cfg-absent")) << "the legacy control port is at the fw_cfg selector";
  EXPECT_FALSE(entry(*m, "debug-exit"));
  EXPECT_EQ(to_state(m->config()).ctl_port, 0x510) << "a save of it records the legacy port";

  TempImage img;
  vcpu_of(hv).push_io_out(0x510, save_word(), 4);
  RunOptions o;
  o.save_path = img.path;
  auto r = m->run(o);
  ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  // ... and the VM resumed from that image has it at 0x510 again.
  auto image = image::Image::open(img.path);  // outlives the clone
  hv::FakeHypervisor hv2;
  auto clone = resume_machine(hv2, image, {}, nullptr);
  EXPECT_EQ(clone->config().ctl_port, 0x510);
  EXPECT_EQ(entry(*clone, "amber-ctl")->base, 0x510u);
}

// The image records the kernel's format, so a resume knows a multiboot
// guest (bare metal: it runs on PVM) from a Linux one; older images without
// it are judged by their kernel command line, as before.
TEST(MachineConfigState, TheKernelFormatSaysWhetherTheGuestIsLinux) {
  hv::FakeHypervisor hv;
  auto cfg = small_config(/*rng=*/false);
  auto m = make_machine(hv, cfg);
  m->set_cmdline(x86::multiboot_command_line("mb.elf", "a=b"));
  std::vector<uint8_t> mod(10, 1);
  std::vector<x86::BootModule> mods{{mod, "mod.txt"}};
  EXPECT_NE(m->boot_kernel(x86::testing::make_mb_elf32(), mods).find("multiboot ELF32"), std::string::npos);
  ConfigState saved = load_state<ConfigState>(amber::save_state(to_state(m->config())), "config");
  EXPECT_EQ(saved.kernel_format, "multiboot");
  EXPECT_EQ(saved.cmdline, "mb.elf a=b");
  EXPECT_FALSE(is_linux_guest(saved));
  EXPECT_EQ(from_state(saved).kernel_format, "multiboot");

  auto linux_cfg = [](std::string format, std::string cmdline) {
    ConfigState c;
    c.kernel_format = std::move(format);
    c.cmdline = std::move(cmdline);
    return c;
  };
  EXPECT_TRUE(is_linux_guest(linux_cfg("bzimage", "console=ttyS0")));
  EXPECT_TRUE(is_linux_guest(linux_cfg("pvh", "console=ttyS0")));
  EXPECT_TRUE(is_linux_guest(linux_cfg("", "console=ttyS0")));  // an older image of a Linux guest
  EXPECT_FALSE(is_linux_guest(linux_cfg("", "")));              // a bare-metal guest
  StateNode old = amber::save_state(to_state(cfg));
  old.props.erase("kernel_format");  // made before the format was recorded
  EXPECT_EQ(load_state<ConfigState>(old, "config").kernel_format, "");
}

// What firmware written for QEMU does to find fw_cfg: select the signature
// (a 16-bit 0 to 0x510) and read four bytes at 0x511. amber answers all ones,
// not "QEMU", and nothing is saved, with the control port at either place.
TEST(MachineCtlPort, AFwCfgProbeReadsAllOnesAndSavesNothing) {
  for (uint16_t ctl : {layout::kAmberCtlPort, layout::kAmberCtlPortLegacy}) {
    SCOPED_TRACE(ctl);
    hv::FakeHypervisor hv;
    auto cfg = small_config(/*rng=*/false);
    cfg.ctl_port = ctl;
    auto m = make_machine(hv, cfg);
    auto& v = vcpu_of(hv);
    v.push_io_out(layout::kFwCfgPort, {0, 0}, 2);
    for (int i = 0; i < 4; ++i) v.push_io_in(layout::kFwCfgPort + 1, 1);
    v.push_exit(hv::SystemReset{});
    TempImage img;
    RunOptions o;
    o.save_path = img.path;
    bool saved = false;
    o.on_saved = [&](const SaveResult&) { saved = true; };
    auto r = m->run(o);
    EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
    EXPECT_FALSE(saved);
    ASSERT_EQ(v.filled_reads().size(), 4u);
    std::string sig;
    for (auto& f : v.filled_reads()) sig.append(f.data.begin(), f.data.end());
    EXPECT_NE(sig, "QEMU");
    if (ctl != layout::kAmberCtlPortLegacy) {
      EXPECT_EQ(sig, std::string(4, '\xff'));
    }
  }
}

TEST(MachineDebugExit, AGuestWriteEndsTheRunWithStatusVShiftedLeftOrOne) {
  hv::FakeHypervisor hv;
  auto cfg = small_config(/*rng=*/false);
  cfg.debug_exit_port = 0x501;
  auto m = make_machine(hv, cfg);
  vcpu_of(hv).push_io_out(0x501, {0x2a}, 1);
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.guest_status, 0x55);
  EXPECT_EQ(r.exit_status(), 0x55);
}

TEST(MachineDebugExit, AResumedVmKeepsItsDebugExitPort) {
  TempImage img;
  {
    hv::FakeHypervisor hv;
    auto cfg = small_config(/*rng=*/false);
    cfg.debug_exit_port = 0x501;
    make_machine(hv, cfg)->save_image(img.path, false);
  }
  auto image = image::Image::open(img.path);  // outlives the clone
  hv::FakeHypervisor hv;
  auto clone = resume_machine(hv, image, {}, nullptr);
  EXPECT_EQ(clone->config().debug_exit_port, 0x501);
  EXPECT_EQ(clone->config().ctl_port, layout::kAmberCtlPort);
  vcpu_of(hv).push_io_out(0x501, {0x01, 0x00, 0x00, 0x00}, 4);
  auto r = clone->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestExit) << r.message;
  EXPECT_EQ(r.exit_status(), 3);
}

// ---- the failure policy of a triggered save ------------------------------------

TEST(MachineGuestSave, AFailedSaveWithThenExitEndsTheRunWithTheError) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
  std::atomic<bool> never{false};
  v.push(SpinUntil{&never});
  RunOptions o;
  o.save_path = "/nonexistent-amber-dir/x.amber";
  o.then_continue = false;
  bool saved = false, reported = false;
  o.on_saved = [&](const SaveResult&) { saved = true; };
  o.on_save_failed = [&](const std::string&) { reported = true; };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  never = true;
  EXPECT_EQ(r.reason, StopReason::kError);
  EXPECT_EQ(r.exit_status(), 1);
  EXPECT_EQ(r.message.rfind("save failed: ", 0), 0u) << r.message;
  EXPECT_FALSE(saved);
  EXPECT_FALSE(reported);  // the error is the run's outcome, reported once by the caller
}

TEST(MachineGuestSave, AFailedSaveWithThenContinueIsReportedAndTheVmGoesOn) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::atomic<bool> go{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);  // the vCPU that rang is held for the save
  v.push(SpinUntil{&go});                                  // and must be let go after it failed
  RunOptions o;
  o.save_path = "/nonexistent-amber-dir/x.amber";
  o.then_continue = true;
  std::string error;
  bool saved = false, paused_at_report = true;
  Machine* mp = m.get();
  o.on_saved = [&](const SaveResult&) { saved = true; };
  o.on_save_failed = [&](const std::string& e) {
    error = e;
    paused_at_report = mp->paused();
    go = true;
  };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message << " (the vCPU that rang was not let go)";
  EXPECT_FALSE(saved);
  EXPECT_FALSE(paused_at_report);
  EXPECT_EQ(error.rfind("save failed: ", 0), 0u) << error;
}

TEST(MachineGuestSave, ASavedVmWithThenContinueGoesOnAndReports) {
  TempImage img;
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::atomic<bool> go{false};
  auto& v = vcpu_of(hv);
  v.push_io_out(layout::kAmberCtlPort, save_word(), 4);
  v.push(SpinUntil{&go});
  RunOptions o;
  o.save_path = img.path;
  o.then_continue = true;
  std::string saved_path;
  int progress_finished = 0;
  o.progress.finish = [&] { ++progress_finished; };
  o.on_saved = [&](const SaveResult& s) {
    saved_path = s.path;
    go = true;
  };
  o.on_save_failed = [&](const std::string& e) { ADD_FAILURE() << e; go = true; };
  Watchdog dog(*m, 10s);
  auto r = m->run(o);
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_EQ(saved_path, img.path);
  EXPECT_EQ(progress_finished, 1);
  EXPECT_NO_THROW(image::Image::open(img.path));
}

// ---- the control-socket commands, without a socket -----------------------------

std::string call(Machine& m, api::Cmd cmd, std::string path = {}, bool then_exit = false) {
  api::Request r;
  r.cmd = cmd;
  r.path = std::move(path);
  r.then_exit = then_exit;
  return api::execute(m, r);
}

bool has(const std::string& answer, const std::string& part) { return answer.find(part) != std::string::npos; }

TEST(MachineApi, StatusPauseResumeSaveResetKeepTheRunStateTheyPromise) {
  TempImage img, saved;
  write_rng_image(img.path);
  auto image = image::Image::open(img.path);
  hv::FakeHypervisor hv;
  auto clone = resume_machine(hv, image, {}, nullptr);
  Machine& m = *clone;
  std::atomic<bool> go{false};
  std::vector<std::string> log;  // "answer | paused()" per request
  auto step = [&](api::Cmd cmd, std::string path = {}, bool then_exit = false) {
    std::string a = call(m, cmd, std::move(path), then_exit);
    log.push_back(a + (m.paused() ? " | paused" : " | running"));
    return a;
  };
  const std::string bad = "/nonexistent-amber-dir/x.amber";
  m.post_task([&] {
    step(api::Cmd::kStatus);
    step(api::Cmd::kPause);
    step(api::Cmd::kStatus);
    step(api::Cmd::kSave, saved.path);  // 3: a paused VM stays paused
    step(api::Cmd::kSave, bad);         // 4: also when the save fails
    step(api::Cmd::kReset);             // 5: and across a reset
    step(api::Cmd::kResume);
    step(api::Cmd::kSave, bad);         // 7: a failed save of a running VM resumes it
    step(api::Cmd::kSave, saved.path);  // 8
    step(api::Cmd::kReset);             // 9
    step(api::Cmd::kSave, saved.path, /*then_exit=*/true);  // 10: stays paused, then the VM stops
  });
  vcpu_of(hv).push(SpinUntil{&go});
  Watchdog dog(m, 10s);
  auto r = m.run({});
  EXPECT_EQ(r.reason, StopReason::kSaved) << r.message;
  ASSERT_EQ(log.size(), 11u);
  auto expect = [&](size_t i, std::initializer_list<const char*> parts, const char* state) {
    SCOPED_TRACE(fmt::format("request {}: {}", i, log[i]));
    for (auto p : parts) EXPECT_TRUE(has(log[i], p)) << p;
    EXPECT_TRUE(has(log[i], std::string(" | ") + state));
  };
  expect(0, {R"({"ok":true,"state":"running")", R"("vcpus":1)", R"("image":")"}, "running");
  expect(1, {R"({"ok":true,"state":"paused"})"}, "paused");
  expect(2, {R"({"ok":true,"state":"paused")"}, "paused");
  expect(3, {R"({"ok":true,"path":")", R"("then":"continue")"}, "paused");
  expect(4, {R"({"ok":false,"error":")"}, "paused");
  expect(5, {R"({"ok":true,"state":"paused","reset_ms":)"}, "paused");
  expect(6, {R"({"ok":true,"state":"running"})"}, "running");
  expect(7, {R"({"ok":false,"error":")"}, "running");
  expect(8, {R"({"ok":true,"path":")"}, "running");
  expect(9, {R"({"ok":true,"state":"running","reset_ms":)"}, "running");
  expect(10, {R"({"ok":true,"path":")", R"("then":"exit")"}, "paused");
  // The image the API saved resumes.
  auto again = image::Image::open(saved.path);
  hv::FakeHypervisor hv2;
  EXPECT_NO_THROW(resume_machine(hv2, again, {}, nullptr));
}

TEST(MachineApi, ABootedVmAnswersResetWithAnError) {
  hv::FakeHypervisor hv;
  auto m = boot_with_rng(hv);
  std::string a;
  m->post_task([&] {
    a = call(*m, api::Cmd::kReset);
    m->request_stop(StopReason::kQuit);
  });
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kQuit);
  EXPECT_EQ(a, R"({"ok":false,"error":"reset needs a VM resumed from an image; this one was booted"})");
  EXPECT_FALSE(m->paused());
}

}  // namespace
}  // namespace amber::vmm
