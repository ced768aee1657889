#include "cli/options.h"

#include <gtest/gtest.h>

#include "amber/error.h"
#include "cli/args.h"

namespace amber::cli {
namespace {

Command parse(std::vector<std::string> v) { return parse_command_line(v); }

TEST(Options, RunWithEverything) {
  auto c = parse({"run", "--kernel", "bz", "--initrd=i.img", "--cpus", "2", "--mem", "1G", "--cmdline", "quiet",
                  "--disk", "a.img,ro", "--disk", "b.img", "--save-on-serial", "READY", "--save", "x.amber",
                  "--then", "continue", "--compress", "--timings", "-v"});
  auto& r = std::get<RunArgs>(c);
  EXPECT_EQ(r.kernel, "bz");
  EXPECT_EQ(r.modules, (std::vector<ModuleArg>{{"--initrd", "i.img", ""}}));
  EXPECT_EQ(r.cpus, 2u);
  EXPECT_EQ(r.mem_bytes, 1ull << 30);
  EXPECT_EQ(r.disks.size(), 2u);
  EXPECT_TRUE(r.rng);
  EXPECT_TRUE(r.save.then_continue);
  EXPECT_TRUE(r.save.compress);
  EXPECT_TRUE(r.timings);
  EXPECT_TRUE(r.verbose);
}

TEST(Options, InitrdRepeatsAndModuleTakesArguments) {
  auto c = parse({"run", "--kernel", "mb.elf", "--initrd", "a.txt", "--module", "b.bin,x=1 y", "--initrd=c",
                  "--module=d.bin"});
  auto& r = std::get<RunArgs>(c);
  ASSERT_EQ(r.modules.size(), 4u);
  EXPECT_EQ(r.modules[0], (ModuleArg{"--initrd", "a.txt", ""}));
  EXPECT_EQ(r.modules[1], (ModuleArg{"--module", "b.bin", "x=1 y"}));
  EXPECT_EQ(r.modules[2].path, "c");
  EXPECT_EQ(r.modules[3], (ModuleArg{"--module", "d.bin", ""}));
  // As QEMU: the file name, then its arguments.
  EXPECT_EQ(r.modules[0].multiboot_string(), "a.txt");
  EXPECT_EQ(r.modules[1].multiboot_string(), "b.bin x=1 y");
  EXPECT_THROW(parse({"run", "--kernel", "k", "--module", ",args"}), UsageError);
  EXPECT_THROW(parse({"run", "--bare", "g.bin", "--module", "m"}), UsageError);
  EXPECT_THROW(parse({"run", "--bare", "g.bin", "--initrd", "m"}), UsageError);
}

TEST(Options, ALinuxKernelTakesOneInitrdAndNoModule) {
  std::vector<ModuleArg> one{{"--initrd", "i", ""}}, two{{"--initrd", "i", ""}, {"--initrd", "j", ""}},
      mod{{"--module", "m", ""}};
  EXPECT_NO_THROW(check_modules({}, true));
  EXPECT_NO_THROW(check_modules(one, true));
  EXPECT_NO_THROW(check_modules(two, false));
  EXPECT_NO_THROW(check_modules(mod, false));
  try {
    check_modules(two, true);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "run: 2 --initrd files given; a Linux kernel takes one (several are for multiboot kernels)");
  }
  EXPECT_THROW(check_modules(mod, true), UsageError);
}

TEST(Options, SharesAreKeptAsRawSpecsUpToEight) {
  auto c = parse({"run", "--kernel", "bz", "--share", "/src,ro", "--share=/tmp,tag=t"});
  EXPECT_EQ(std::get<RunArgs>(c).shares, (std::vector<std::string>{"/src,ro", "/tmp,tag=t"}));
  std::vector<std::string> nine = {"run", "--kernel", "bz"};
  for (int i = 0; i < 9; ++i) nine.insert(nine.end(), {"--share", "/d"});
  EXPECT_THROW(parse(nine), UsageError);
}

TEST(Options, NoRngLeavesTheEntropyDeviceOut) {
  auto c = parse({"run", "--kernel", "bz", "--no-rng"});
  EXPECT_FALSE(std::get<RunArgs>(c).rng);
  EXPECT_THROW(parse({"run", "--kernel", "bz", "--no-rng=1"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "bz", "--timings=no"}), UsageError);
  EXPECT_THROW(parse({"resume", "x.amber", "--compress=9"}), UsageError);
}

TEST(Options, DebugExitTakesAnOptionalInlinePort) {
  auto port = [](std::vector<std::string> v) { return std::get<RunArgs>(parse(v)).debug_exit_port; };
  EXPECT_EQ(port({"run", "--bare", "g.bin"}), 0);  // none without the option
  EXPECT_EQ(port({"run", "--debug-exit", "--bare", "g.bin"}), 0xf4);  // the next argument is not its value
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit"}), 0xf4);
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=0x501"}), 0x501);
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=0XF4"}), 0xf4);
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=1281"}), 0x501);
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=0xfffc"}), 0xfffc);
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=0x50c"}), 0x50c);  // just below fw_cfg
  EXPECT_EQ(port({"run", "--bare", "g.bin", "--debug-exit=0x84"}), 0x84);  // just above POST
}

TEST(Options, DebugExitRejectsBadPortsAndAmbersOwn) {
  for (const char* bad : {"", "0", "0x", "0x0", "xyz", "0x1g", "-1", "65536", "0x10000", "0xfffd", "0x3f5", "0x3ff",
                          "0x5d", "0x64", "0x6e", "0x71", "0x7d", "0x80", "0x59d", "0x5a3", "0x50d", "0x510", "0x51b"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse({"run", "--bare", "g.bin", std::string("--debug-exit=") + bad}), UsageError);
  }
  EXPECT_THROW(parse({"resume", "x.amber", "--debug-exit"}), UsageError) << "a resume keeps the image's";
}

TEST(Options, ForceKvmAndDoctor) {
  EXPECT_FALSE(std::get<RunArgs>(parse({"run", "--kernel", "bz"})).force_kvm);
  EXPECT_TRUE(std::get<RunArgs>(parse({"run", "--kernel", "bz", "--force-kvm"})).force_kvm);
  EXPECT_THROW(parse({"run", "--kernel", "bz", "--force-kvm=yes"}), UsageError);
  EXPECT_FALSE(std::get<ResumeArgs>(parse({"resume", "x.amber"})).force_kvm);
  EXPECT_TRUE(std::get<ResumeArgs>(parse({"resume", "x.amber", "--force-kvm"})).force_kvm);
  auto d = std::get<DoctorArgs>(parse({"doctor"}));
  EXPECT_FALSE(d.json);
  EXPECT_TRUE(d.probe);
  EXPECT_EQ(d.device, "/dev/kvm");
  d = std::get<DoctorArgs>(parse({"doctor", "--json", "--no-probe", "--device", "/tmp/k"}));
  EXPECT_TRUE(d.json);
  EXPECT_FALSE(d.probe);
  EXPECT_EQ(d.device, "/tmp/k");
  EXPECT_THROW(parse({"doctor", "extra"}), UsageError);
  EXPECT_THROW(parse({"doctor", "--frob"}), UsageError);
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse({"doctor", "--help"})));
}

TEST(Options, BadInputIsAUsageError) {
  EXPECT_THROW(parse({}), UsageError);
  EXPECT_THROW(parse({"frobnicate"}), UsageError);
  EXPECT_THROW(parse({"run"}), UsageError);                                     // no kernel
  EXPECT_THROW(parse({"run", "--kernel", "k", "--bare", "b"}), UsageError);     // both
  EXPECT_THROW(parse({"run", "--kernel", "k", "--cpus", "0"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "--cpus", "33"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "--cpus", "two"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "--mem", "lots"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "--bogus"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "-x"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel"}), UsageError);                         // missing value
  EXPECT_NO_THROW(parse({"run", "--kernel", "k", "--save", "x"}));  // the guest's doorbell triggers it
  EXPECT_THROW(parse({"run", "--kernel", "k", "--save-on-serial", "X"}), UsageError);
  EXPECT_THROW(parse({"run", "--kernel", "k", "--then", "later"}), UsageError);
  EXPECT_THROW(parse({"resume"}), UsageError);
  EXPECT_THROW(parse({"resume", "a", "b"}), UsageError);
  EXPECT_THROW(parse({"resume", "a", "--disk-overlay", "novalue"}), UsageError);
  EXPECT_THROW(parse({"inspect", "a", "--yaml"}), UsageError);
  EXPECT_THROW(parse({"verify"}), UsageError);
  EXPECT_THROW(parse({"dump", "a"}), UsageError);                // no --elf
  EXPECT_THROW(parse({"dump", "--elf", "x"}), UsageError);       // no IMAGE
  EXPECT_THROW(parse({"dump", "a", "b", "--elf", "x"}), UsageError);
  EXPECT_THROW(parse({"dump", "a", "--elf"}), UsageError);
  EXPECT_THROW(parse({"dump", "a", "--elf="}), UsageError);
  EXPECT_THROW(parse({"dump", "a", "--elf", "x", "--json"}), UsageError);
}

TEST(Options, Dump) {
  auto d = std::get<DumpArgs>(parse({"dump", "vm.amber", "--elf", "vm.core"}));
  EXPECT_EQ(d.image, "vm.amber");
  EXPECT_EQ(d.elf, "vm.core");
  d = std::get<DumpArgs>(parse({"dump", "--elf=out/c", "vm.amber"}));
  EXPECT_EQ(d.image, "vm.amber");
  EXPECT_EQ(d.elf, "out/c");
}

TEST(Options, HelpEverywhere) {
  for (auto cmd : {"run", "resume", "inspect", "verify", "dump"}) {
    auto c = parse({cmd, "--help"});
    ASSERT_TRUE(std::holds_alternative<HelpArgs>(c)) << cmd;
    EXPECT_NE(std::get<HelpArgs>(c).text.find("Usage: amber"), std::string::npos);
  }
  EXPECT_NE(std::get<HelpArgs>(parse({"--help"})).text.find("Commands:"), std::string::npos);
}

TEST(Options, ResumeOverlays) {
  auto r = std::get<ResumeArgs>(parse({"resume", "vm.amber", "--disk-overlay", "vda=/tmp/o", "--timings"}));
  EXPECT_EQ(r.image, "vm.amber");
  EXPECT_EQ(r.overlays.at("vda"), "/tmp/o");
}

TEST(Options, CtlAndApi) {
  auto c = std::get<CtlArgs>(parse({"ctl", "/tmp/vm.sock", "save", "path=/tmp/x.amber", "then=continue", "note=a=b"}));
  EXPECT_EQ(c.socket, "/tmp/vm.sock");
  EXPECT_EQ(c.cmd, "save");
  ASSERT_EQ(c.params.size(), 3u);
  EXPECT_EQ(c.params[0], (std::pair<std::string, std::string>{"path", "/tmp/x.amber"}));
  EXPECT_EQ(c.params[2], (std::pair<std::string, std::string>{"note", "a=b"}));
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse({"ctl", "--help"})));
  EXPECT_THROW(parse({"ctl"}), UsageError);
  EXPECT_THROW(parse({"ctl", "/tmp/s"}), UsageError);
  EXPECT_THROW(parse({"ctl", "/tmp/s", "save", "path"}), UsageError);
  EXPECT_THROW(parse({"ctl", "/tmp/s", "save", "=x"}), UsageError);
  EXPECT_THROW(parse({"ctl", "/tmp/s", "status", "--force"}), UsageError);
  EXPECT_EQ(std::get<RunArgs>(parse({"run", "--bare", "b", "--api", "/tmp/s"})).api, "/tmp/s");
  EXPECT_EQ(std::get<ResumeArgs>(parse({"resume", "x.amber", "--api=/tmp/s"})).api, "/tmp/s");
  EXPECT_THROW(parse({"resume", "x.amber", "--api", std::string(200, 'x')}), UsageError);
}

TEST(Options, Sizes) {
  EXPECT_EQ(parse_size("256M", "x"), 256ull << 20);
  EXPECT_EQ(parse_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_size("2g", "x"), 2ull << 30);
  EXPECT_THROW(parse_size("M", "x"), UsageError);
  EXPECT_THROW(parse_size("99999999999999T", "x"), UsageError);
  EXPECT_THROW(parse_size("-1M", "x"), UsageError);
}

// The virtio part comes from the Machine's device registry
// (Machine::virtio_cmdline(); MachineDevices.VirtioCmdlineFromTheRegisteredWindows
// in src/vmm/machine_test.cpp pins it for one disk and the rng device).
TEST(Options, CmdlineComposition) {
  EXPECT_EQ(compose_cmdline("", ""), "console=ttyS0 reboot=k panic=-1");
  EXPECT_EQ(compose_cmdline("quiet", ""), "console=ttyS0 reboot=k panic=-1 quiet");
  EXPECT_EQ(compose_cmdline("quiet", "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"),
            "console=ttyS0 reboot=k panic=-1 virtio_mmio.device=4K@0xd0000000:5 "
            "virtio_mmio.device=4K@0xd0001000:6 quiet");
}

}  // namespace
}  // namespace amber::cli

namespace amber::cli {
namespace {

TEST(Options, GdbEndpointsOnRunAndResume) {
  auto r = std::get<RunArgs>(parse_command_line({"run", "--bare", "g.bin", "--gdb", "1234", "--gdb-wait"}));
  EXPECT_EQ(r.gdb.endpoint, "1234");
  EXPECT_TRUE(r.gdb.wait);
  auto s = std::get<ResumeArgs>(parse_command_line({"resume", "vm.amber", "--gdb=unix:/tmp/g.sock"}));
  EXPECT_EQ(s.gdb.endpoint, "unix:/tmp/g.sock");
  EXPECT_FALSE(s.gdb.wait);
  EXPECT_EQ(std::get<RunArgs>(parse_command_line({"run", "--bare", "g", "--gdb", "0"})).gdb.endpoint, "0");
  for (auto bad : {"http", "65536", "-1", "unix:", "12a", "123456"})
    EXPECT_THROW(parse_command_line({"run", "--bare", "g", "--gdb", bad}), UsageError) << bad;
  EXPECT_THROW(parse_command_line({"run", "--bare", "g", "--gdb", "unix:/" + std::string(107, 'x')}), UsageError);
  EXPECT_THROW(parse_command_line({"run", "--bare", "g", "--gdb-wait"}), UsageError) << "--gdb-wait alone";
  EXPECT_THROW(parse_command_line({"resume", "vm.amber", "--gdb-wait"}), UsageError);
}

// amber pool and resume --pool (issue 12 goal 2, docs/pool.md).
TEST(Options, PoolAndResumeThroughIt) {
  auto p = std::get<PoolArgs>(parse_command_line({"pool", "/run/p.sock"}));
  EXPECT_EQ(p.socket, "/run/p.sock");
  EXPECT_EQ(p.size, 2u);
  EXPECT_EQ(p.cpus, 1u);
  EXPECT_EQ(p.mem_bytes, 256ull << 20);
  EXPECT_TRUE(p.like.empty());
  p = std::get<PoolArgs>(parse_command_line({"pool", "p.sock", "--size", "8", "--cpus", "4", "--mem", "1G"}));
  EXPECT_EQ(p.size, 8u);
  EXPECT_EQ(p.cpus, 4u);
  EXPECT_EQ(p.mem_bytes, 1ull << 30);
  EXPECT_EQ(std::get<PoolArgs>(parse_command_line({"pool", "p.sock", "--like", "vm.amber"})).like, "vm.amber");
  EXPECT_THROW(parse_command_line({"pool"}), UsageError);
  EXPECT_THROW(parse_command_line({"pool", "a.sock", "b.sock"}), UsageError);
  for (auto bad : {"0", "65", "x"}) EXPECT_THROW(parse_command_line({"pool", "p.sock", "--size", bad}), UsageError) << bad;
  EXPECT_THROW(parse_command_line({"pool", "p.sock", "--like", "vm.amber", "--mem", "1G"}), UsageError);
  EXPECT_TRUE(std::holds_alternative<HelpArgs>(parse_command_line({"pool", "--help"})));

  auto r = std::get<ResumeArgs>(parse_command_line({"resume", "vm.amber", "--pool", "p.sock", "--timings"}));
  EXPECT_EQ(r.pool, "p.sock");
  EXPECT_TRUE(r.timings);
  EXPECT_TRUE(std::get<ResumeArgs>(parse_command_line({"resume", "vm.amber"})).pool.empty());
  EXPECT_THROW(parse_command_line({"resume", "vm.amber", "--pool"}), UsageError);
  EXPECT_THROW(parse_command_line({"resume", "vm.amber", "--pool", "p.sock", "--jail", "/srv/j"}), UsageError);
}

// --jail and its options (issue 17 item 3, src/sandbox/jail.h).
TEST(Options, JailDefaultsAndEveryOption) {
  auto plain = parse({"run", "--bare", "x.bin"});
  EXPECT_TRUE(std::get<RunArgs>(plain).jail.dir.empty());
  auto c = parse({"run", "--bare", "/x.bin", "--jail", "/srv/vm1"});
  auto& r = std::get<RunArgs>(c);
  EXPECT_EQ(r.jail.dir, "/srv/vm1");
  EXPECT_EQ(r.jail.uid, 65534u);
  EXPECT_EQ(r.jail.gid, 65534u);
  EXPECT_EQ(r.jail.nofile, 1024u);
  EXPECT_FALSE(r.jail.fsize);
  EXPECT_FALSE(r.jail.as);
  EXPECT_TRUE(r.jail.cgroup.empty());

  auto c2 = parse({"resume", "/vm.amber", "--jail=/srv/vm1", "--jail-user", "1000:2000", "--jail-limit",
                   "nofile=64,fsize=1G", "--jail-limit=as=4G", "--jail-cgroup", "/sys/fs/cgroup/vm1"});
  auto& j = std::get<ResumeArgs>(c2).jail;
  EXPECT_EQ(j.dir, "/srv/vm1");
  EXPECT_EQ(j.uid, 1000u);
  EXPECT_EQ(j.gid, 2000u);
  EXPECT_EQ(j.nofile, 64u);
  EXPECT_EQ(j.fsize, 1ull << 30);
  EXPECT_EQ(j.as, 4ull << 30);
  EXPECT_EQ(j.cgroup, "/sys/fs/cgroup/vm1");

  // GID defaults to UID.
  auto c3 = parse({"run", "--bare", "x", "--jail", "d", "--jail-user", "4242"});
  EXPECT_EQ(std::get<RunArgs>(c3).jail.uid, 4242u);
  EXPECT_EQ(std::get<RunArgs>(c3).jail.gid, 4242u);
}

TEST(Options, JailOptionsWithoutJailOrWithBadValuesAreUsageErrors) {
  auto bad = [](std::vector<std::string> v, const std::string& says) {
    try {
      parse_command_line(v);
      ADD_FAILURE() << "accepted: " << ::testing::PrintToString(v);
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  bad({"run", "--bare", "x", "--jail-user", "1000"}, "run: --jail-user needs --jail DIR");
  bad({"resume", "i", "--jail-limit", "nofile=64"}, "resume: --jail-limit needs --jail DIR");
  bad({"run", "--bare", "x", "--jail-cgroup", "/sys/fs/cgroup/a"}, "--jail-cgroup needs --jail DIR");
  bad({"run", "--bare", "x", "--jail", ""}, "--jail needs a directory");
  bad({"run", "--bare", "x", "--jail"}, "--jail");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "0"}, "drops root");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "1000:0"}, "drops root");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "nobody"}, "as numbers");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "1000:"}, "as numbers");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "-1"}, "as numbers");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-user", "4294967295"}, "out of range");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", "nofile=abc"}, "nofile");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", "nofile=4"}, "nofile");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", "cpu=1"}, "unknown limit 'cpu'");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", "fsize"}, "NAME=VALUE");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", "as=1Q"}, "--jail-limit as");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-limit", ""}, "--jail-limit takes");
  bad({"run", "--bare", "x", "--jail", "d", "--jail-cgroup", ""}, "--jail-cgroup needs");
  // A TCP port in the jail's own network namespace is out of the host's reach.
  bad({"run", "--bare", "x", "--jail", "d", "--gdb", "1234"}, "--gdb unix:PATH");
  auto ok = parse({"run", "--bare", "x", "--jail", "d", "--gdb", "unix:/gdb.sock"});
  EXPECT_EQ(std::get<RunArgs>(ok).gdb.endpoint, "unix:/gdb.sock");
  // exec has no --jail.
  bad({"exec", "--kernel", "k", "--jail", "d", "--", "true"}, "--jail");
}

}  // namespace
}  // namespace amber::cli
