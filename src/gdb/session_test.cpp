#include "gdb/session.h"

#include <cstring>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "gdb/fake_target.h"
#include "gdb/registers.h"

namespace amber::gdb {
namespace {

// A gdb in no-ack mode: sends one packet, returns the reply's payload.
struct Gdb {
  FakeTarget t{2, 4 << 20};
  SoftwareBreakpoints sw;
  Session s{t, sw};
  Gdb() {
    s.attach();
    send_raw(frame("QStartNoAckMode"));  // acked: "+$OK#9a"
  }
  std::string send_raw(std::string_view bytes) {
    return s.receive(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
  // The payload of the one framed reply (unescaped), "" when none.
  std::string send(std::string_view packet) { return unframe(send_raw(frame(packet))); }
  static std::string unframe(const std::string& out) {
    PacketReader r;
    std::string payload;
    for (char c : out)
      if (auto e = r.feed(uint8_t(c)); e && e->kind == RspEvent::kPacket) payload = e->payload;
    return payload;
  }
};

TEST(GdbSession, AcksPacketsUntilNoAckModeAndResendsOnNack) {
  FakeTarget t;
  SoftwareBreakpoints sw;
  Session s(t, sw);
  s.attach();
  auto send = [&](std::string_view b) {
    return s.receive(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
  };
  EXPECT_EQ(send(frame("?")), "+" + frame("T05thread:1;"));
  EXPECT_EQ(send("-"), frame("T05thread:1;")) << "a garbled reply is sent again";
  EXPECT_EQ(send("$?#00"), "-") << "bad checksum: gdb must resend";
  EXPECT_EQ(send(frame("QStartNoAckMode")), "+" + frame("OK"));
  EXPECT_EQ(send(frame("?")), frame("T05thread:1;")) << "no '+' any more";
}

TEST(GdbSession, AnnouncesFeaturesThreadsAndServesTargetXmlInChunks) {
  Gdb g;
  std::string sup = g.send("qSupported:multiprocess+;swbreak+;hwbreak+");
  EXPECT_NE(sup.find("PacketSize=4000"), std::string::npos);
  EXPECT_NE(sup.find("qXfer:features:read+"), std::string::npos);
  EXPECT_NE(sup.find("swbreak+"), std::string::npos);
  EXPECT_EQ(g.send("qfThreadInfo"), "m1,2") << "one gdb thread per vCPU";
  EXPECT_EQ(g.send("qsThreadInfo"), "l");
  EXPECT_EQ(g.send("qThreadExtraInfo,2"), to_hex(std::string_view("vCPU 1")));
  std::string xml;
  for (uint64_t off = 0;;) {
    std::string r = g.send(fmt::format("qXfer:features:read:target.xml:{:x},200", off));
    ASSERT_FALSE(r.empty());
    xml += r.substr(1);
    off += r.size() - 1;
    if (r[0] == 'l') break;
    ASSERT_EQ(r[0], 'm');
  }
  EXPECT_EQ(xml, target_xml());
  EXPECT_EQ(g.send("qXfer:features:read:other.xml:0,10"), "E00");
  EXPECT_EQ(g.send("vMustReplyEmpty"), "");
}

TEST(GdbSession, RegistersOfTheSelectedThread) {
  Gdb g;
  g.t.regs[1].rip = 0xabcdef;
  g.t.regs[1].gpr[0] = 7;
  EXPECT_EQ(g.send("Hg2"), "OK");
  std::string all = g.send("g");
  EXPECT_EQ(all.size(), encode_registers({}).size());
  EXPECT_EQ(all.substr(0, 16), "0700000000000000") << "rax of vCPU 1";
  EXPECT_EQ(g.send("p10"), "efcdab0000000000") << "register 0x10 is rip";
  EXPECT_EQ(g.send("P10=0010100000000000"), "OK");
  EXPECT_EQ(g.t.regs[1].rip, 0x101000u);
  EXPECT_EQ(g.t.regs[0].rip, 0u) << "vCPU 0 untouched";
  EXPECT_EQ(g.send("P99=00"), "E22");
  EXPECT_EQ(g.send("Hg3"), "E22") << "no third vCPU";
  EXPECT_EQ(g.send("T3"), "E22");
}

TEST(GdbSession, MemoryByVirtualAddressThroughThePageTables) {
  Gdb g;
  // Paging on for vCPU 0: one 4 KiB page at virtual 0x400000 -> physical 0x9000.
  auto& r = g.t.regs[0];
  r.cr0 = 1ull << 31, r.cr4 = 1ull << 5, r.efer = 1ull << 10, r.cr3 = 0x1000;
  auto put = [&](uint64_t a, uint64_t v) { std::memcpy(g.t.ram.data() + a, &v, 8); };
  put(0x1000, 0x2000 | 1);
  put(0x2000, 0x3000 | 1);
  put(0x3000 + 2 * 8, 0x4000 | 1);
  put(0x4000, 0x9000 | 1);
  g.t.ram[0x9000] = 0xde;
  g.t.ram[0x9001] = 0xad;
  EXPECT_EQ(g.send("m400000,2"), "dead");
  EXPECT_EQ(g.send("M400002,2:beef"), "OK");
  EXPECT_EQ(g.t.ram[0x9002], 0xbe);
  EXPECT_EQ(g.send("m400ffe,4"), "0000") << "a read stops at the first unmapped page";
  EXPECT_EQ(g.send("m500000,4"), "E14");
  EXPECT_EQ(g.send("M500000,1:00"), "E14");
  EXPECT_EQ(g.send("M400000,2:00"), "E22") << "length and data disagree";
}

TEST(GdbSession, SoftwareBreakpointHitIsReportedAsSwbreak) {
  Gdb g;
  g.t.ram[0x100000] = 0x48;
  EXPECT_EQ(g.send("Z0,100000,1"), "OK");
  EXPECT_EQ(g.t.ram[0x100000], kInt3);
  EXPECT_EQ(g.send("m100000,1"), "48") << "gdb sees the original byte";
  EXPECT_EQ(g.send("vCont;c"), "") << "no reply until the guest stops";
  ASSERT_TRUE(g.s.running());
  ASSERT_EQ(g.t.debug.size(), 2u);
  EXPECT_TRUE(g.t.debug[1].enable && g.t.debug[1].sw_breakpoints);
  EXPECT_FALSE(g.t.debug[0].single_step);
  EXPECT_FALSE(g.t.only) << "continue runs every vCPU";
  int stops = g.t.stops;
  std::string r = Gdb::unframe(g.s.on_trap(1, {3, 0x100000, 0, 0}));
  EXPECT_EQ(r, "T05thread:2;swbreak:;");
  EXPECT_EQ(g.t.stops, stops + 1) << "the whole VM stops";
  EXPECT_EQ(g.send("qC"), "QC2") << "the trapping vCPU becomes the current thread";
  EXPECT_EQ(g.send("?"), "T05thread:2;swbreak:;");
  EXPECT_EQ(g.send("z0,100000,1"), "OK");
  EXPECT_EQ(g.t.ram[0x100000], 0x48);
}

TEST(GdbSession, TheGuestsOwnInt3GoesBackToTheGuest) {
  Gdb g;
  ASSERT_EQ(g.send("Z0,100000,1"), "OK");
  g.send("c");
  int resumes = g.t.resumes;
  EXPECT_EQ(g.s.on_trap(0, {3, 0x200000, 0, 0}), "") << "not gdb's: no stop reply";
  EXPECT_EQ(g.t.resumes, resumes + 1);
  EXPECT_TRUE(g.t.debug[0].inject_bp) << "KVM_GUESTDBG_INJECT_BP for the vCPU that trapped";
  EXPECT_FALSE(g.t.debug[1].inject_bp);
  EXPECT_TRUE(g.s.running());
}

TEST(GdbSession, HardwareBreakpointsWatchpointsAndSingleStep) {
  Gdb g;
  EXPECT_EQ(g.send("Z1,100010,1"), "OK");
  EXPECT_EQ(g.send("Z2,300000,8"), "OK");
  EXPECT_EQ(g.send("Z3,300000,8"), "") << "read watchpoints: unsupported on x86";
  EXPECT_EQ(g.send("Z2,300001,8"), "E28");
  g.send("c");
  EXPECT_TRUE(g.t.debug[0].hw_breakpoints);
  EXPECT_EQ(g.t.debug[0].dr[0], 0x100010u);
  EXPECT_EQ(g.t.debug[1].dr7 & 0xf, 0x5u) << "both slots enabled on every vCPU";
  EXPECT_EQ(Gdb::unframe(g.s.on_trap(0, {1, 0x100010, 1, 0})), "T05thread:1;hwbreak:;");
  g.send("c");
  EXPECT_EQ(Gdb::unframe(g.s.on_trap(1, {1, 0x100020, 2, 0})), "T05thread:2;watch:300000;");
  // Step vCPU 0 (thread 1) alone.
  EXPECT_EQ(g.send("vCont;s:1;c"), "");
  EXPECT_EQ(g.t.only, 0u);
  EXPECT_TRUE(g.t.debug[0].single_step);
  EXPECT_FALSE(g.t.debug[1].single_step);
  EXPECT_EQ(Gdb::unframe(g.s.on_trap(0, {1, 0x100011, 1ull << 14, 0})), "T05thread:1;");
  EXPECT_EQ(g.send("vCont;x"), "E22");
}

TEST(GdbSession, CtrlCStopsARunningGuest) {
  Gdb g;
  g.send("c");
  EXPECT_EQ(g.send("g"), "E01") << "all-stop: while the guest runs only Ctrl-C is taken";
  std::string out = g.send_raw("\x03");
  EXPECT_EQ(Gdb::unframe(out), "T02thread:1;");
  EXPECT_FALSE(g.s.running());
  EXPECT_FALSE(g.t.running);
}

TEST(GdbSession, DetachTakesBreakpointsOutAndTurnsGuestDebugOff) {
  Gdb g;
  g.t.ram[0x100000] = 0x48;
  g.send("Z0,100000,1");
  g.send("Z1,100010,1");
  EXPECT_EQ(g.send("D"), "OK");
  EXPECT_TRUE(g.s.finished());
  EXPECT_EQ(g.t.ram[0x100000], 0x48);
  ASSERT_EQ(g.t.debug.size(), 2u);
  EXPECT_EQ(g.t.debug[0], hv::GuestDebug{});
  EXPECT_EQ(g.t.debug[1], hv::GuestDebug{});
  EXPECT_TRUE(g.t.running) << "the VM runs on";
}

TEST(GdbSession, KillAndTheVmsEnd) {
  Gdb g;
  g.send("c");
  EXPECT_EQ(Gdb::unframe(g.s.on_vm_end(0x2b)), "W2b");
  EXPECT_TRUE(g.s.finished());
  Gdb k;
  EXPECT_EQ(k.send("k"), "");
  EXPECT_TRUE(k.t.killed);
}

}  // namespace
}  // namespace amber::gdb

namespace amber::gdb {
namespace {

// A KVM without breakpoint exits (nested under QEMU-TCG): continue steps
// every vCPU and checks after each round; nothing is written into RAM.
struct EmulatingGdb : Gdb {
  Session e{t, sw, /*emulate_breakpoints=*/true};
  EmulatingGdb() {
    e.attach();
    send("QStartNoAckMode");
  }
  std::string send(std::string_view packet) {
    auto f = frame(packet);
    return unframe(e.receive(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(f.data()), f.size())));
  }
};

TEST(GdbSession, EmulatedBreakpointsStepUntilAVcpuReachesOne) {
  EmulatingGdb g;
  g.t.ram[0x100000] = 0x48;
  EXPECT_EQ(g.send("Z0,100010,1"), "OK");
  EXPECT_EQ(g.send("Z1,100020,1"), "OK");
  EXPECT_EQ(g.t.ram[0x100010], 0) << "no int3 in RAM: the guest would get it";
  EXPECT_EQ(g.send("Z4,300000,8"), "") << "access watchpoints cannot be emulated";
  EXPECT_EQ(g.send("vCont;c"), "");
  EXPECT_TRUE(g.t.debug[0].single_step && g.t.debug[1].single_step) << "every vCPU steps";
  EXPECT_FALSE(g.t.debug[0].sw_breakpoints || g.t.debug[0].hw_breakpoints);
  int resumes = g.t.resumes;
  g.t.regs[0].rip = 0x100005;
  EXPECT_EQ(g.e.on_trap(0, {1, 0x100005, 1ull << 14, 0}), "") << "no breakpoint reached: step on";
  EXPECT_EQ(g.t.resumes, resumes + 1);
  g.t.regs[1].rip = 0x100020;
  EXPECT_EQ(Gdb::unframe(g.e.on_trap(0, {1, 0x100006, 1ull << 14, 0})), "T05thread:2;hwbreak:;")
      << "any vCPU at a breakpoint stops the VM, whichever trapped";
  EXPECT_FALSE(g.e.running());
  EXPECT_EQ(g.send("qC"), "QC2");
}

TEST(GdbSession, EmulatedWriteWatchpointSeesTheChangedBytes) {
  EmulatingGdb g;
  EXPECT_EQ(g.send("Z2,2000,8"), "OK");
  EXPECT_EQ(g.send("c"), "");
  EXPECT_EQ(g.e.on_trap(1, {1, 0x100000, 1ull << 14, 0}), "");
  g.t.ram[0x2003] = 9;  // the guest writes
  EXPECT_EQ(Gdb::unframe(g.e.on_trap(1, {1, 0x100003, 1ull << 14, 0})), "T05thread:2;watch:2000;");
  EXPECT_EQ(g.send("z2,2000,8"), "OK");
  EXPECT_EQ(g.send("c"), "");
  EXPECT_FALSE(g.t.debug[0].single_step) << "no breakpoints left: a plain continue";
}

}  // namespace
}  // namespace amber::gdb
