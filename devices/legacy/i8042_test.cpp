#include "i8042.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace amber::dev {
namespace {

class I8042Test : public ::testing::Test {
 protected:
  uint8_t rd(uint64_t off) {
    uint8_t v = 0xee;
    kbd.read(off, {&v, 1});
    return v;
  }
  void wr(uint64_t off, uint8_t v) { kbd.write(off, {&v, 1}); }
  void cmd(uint8_t v) { wr(4, v); }
  uint8_t status() { return rd(4); }
  uint8_t data() { return rd(0); }

  int resets = 0;
  I8042 kbd{[this] { ++resets; }};
};

TEST_F(I8042Test, InputBufferIsAlwaysEmpty) {
  // Linux's reboot=k path waits for status bit 1 to clear before writing 0xfe.
  EXPECT_EQ(status() & 0x02, 0);
  for (int c = 0; c < 256; ++c) {
    cmd(uint8_t(c));
    ASSERT_EQ(status() & 0x02, 0) << c;
    wr(0, 0x5a);
    ASSERT_EQ(status() & 0x02, 0) << c;
  }
}

TEST_F(I8042Test, ResetCommandPulsesResetLine) {
  cmd(0xfe);
  EXPECT_EQ(resets, 1);
  cmd(0xff);  // pulse nothing
  cmd(0xf1);  // bit 0 stays high
  EXPECT_EQ(resets, 1);
  cmd(0xf0);  // pulses all four bits, reset included
  EXPECT_EQ(resets, 2);
}

TEST_F(I8042Test, ResetHandlerRunsWithoutTheLockHeld) {
  uint8_t seen = 0;
  I8042* self = nullptr;
  I8042 k([&] { seen = self->status() | 0x80; });  // would deadlock under the lock
  self = &k;
  uint8_t c = 0xfe;
  k.write(4, {&c, 1});
  EXPECT_EQ(seen & 0x80, 0x80);
}

TEST_F(I8042Test, DataPortReadsZeroWhenEmpty) {
  EXPECT_EQ(status() & 0x01, 0);
  EXPECT_EQ(data(), 0);
}

TEST_F(I8042Test, SelfTestReplies55) {
  cmd(0xaa);
  EXPECT_EQ(status() & 0x01, 0x01);
  EXPECT_EQ(data(), 0x55);
  EXPECT_EQ(status() & 0x01, 0x00);
  EXPECT_EQ(data(), 0x00);
}

TEST_F(I8042Test, CommandByteReadWrite) {
  cmd(0x20);
  EXPECT_EQ(data(), 0x45);
  cmd(0x60);
  wr(0, 0x61);
  EXPECT_EQ(kbd.state().command_byte, 0x61);
  cmd(0x20);
  EXPECT_EQ(data(), 0x61);
  EXPECT_EQ(status() & 0x04, 0x00);  // SYS flag follows command byte bit 2
}

TEST_F(I8042Test, PortEnableDisableCommandsEditCommandByte) {
  cmd(0xa7);
  EXPECT_EQ(kbd.state().command_byte & 0x20, 0x20);
  cmd(0xa8);
  EXPECT_EQ(kbd.state().command_byte & 0x20, 0x00);
  cmd(0xad);
  EXPECT_EQ(kbd.state().command_byte & 0x10, 0x10);
  cmd(0xae);
  EXPECT_EQ(kbd.state().command_byte & 0x10, 0x00);
}

TEST_F(I8042Test, InterfaceTestsPass) {
  cmd(0xab);
  EXPECT_EQ(data(), 0x00);
  cmd(0xa9);
  EXPECT_EQ(data(), 0x00);
}

TEST_F(I8042Test, OutputPortWriteWithResetBitClearResets) {
  cmd(0xd0);
  EXPECT_EQ(data(), 0xcf);
  cmd(0xd1);
  wr(0, 0xdd);  // A20 and reset line high: no reset
  EXPECT_EQ(resets, 0);
  cmd(0xd0);
  EXPECT_EQ(data(), 0xdd);
  cmd(0xd1);
  wr(0, 0xdc);
  EXPECT_EQ(resets, 1);
}

TEST_F(I8042Test, AuxLoopbackSetsAuxStatus) {
  cmd(0xd3);
  wr(0, 0x5a);  // Linux's i8042_check_aux() loop test
  EXPECT_EQ(status() & 0x21, 0x21);
  EXPECT_EQ(data(), 0x5a);
  EXPECT_EQ(status() & 0x21, 0x00);
  cmd(0xd2);
  wr(0, 0x33);
  EXPECT_EQ(status() & 0x21, 0x01);
  EXPECT_EQ(data(), 0x33);
}

TEST_F(I8042Test, StatusBit3TracksLastWrite) {
  cmd(0xa8);
  EXPECT_EQ(status() & 0x08, 0x08);
  wr(0, 0xf4);  // a keyboard byte: no keyboard, dropped
  EXPECT_EQ(status() & 0x08, 0x00);
  EXPECT_EQ(status() & 0x01, 0x00);
}

TEST_F(I8042Test, OtherPortsInWindowReadZero) {
  for (uint64_t off : {1, 2, 3}) EXPECT_EQ(rd(off), 0) << off;
  wr(1, 0xff);  // ignored
  EXPECT_EQ(resets, 0);
}

TEST_F(I8042Test, StateMutationChangesSave) {
  std::vector<std::function<void()>> mutations = {
      [&] { cmd(0xad); }, [&] { cmd(0xaa); }, [&] { cmd(0x60); }, [&] { cmd(0xd3); wr(0, 1); },
      [&] { cmd(0xd1); wr(0, 0xcd); },
  };
  for (size_t i = 0; i < mutations.size(); ++i) {
    kbd.restore(I8042([] {}).save());
    StateNode before = kbd.save();
    mutations[i]();
    EXPECT_NE(kbd.save(), before) << i;
  }
}

TEST_F(I8042Test, SaveMutateRestoreIsEqual) {
  cmd(0xa7);
  cmd(0xaa);  // output pending
  cmd(0xd1);  // a command waiting for its data byte
  I8042State saved_state = kbd.state();
  StateNode saved = kbd.save();
  wr(0, 0xcd);
  cmd(0xa8);
  data();
  ASSERT_NE(kbd.state(), saved_state);
  kbd.restore(saved);
  EXPECT_EQ(kbd.state(), saved_state);
  EXPECT_EQ(data(), 0x55);
  EXPECT_EQ(kbd.state().output_port, 0xcf);
  wr(0, 0xcd);  // the pending 0xd1 completes after restore
  EXPECT_EQ(kbd.state().output_port, 0xcd);
}

TEST_F(I8042Test, CorruptNodeThrowsAndLeavesDeviceUnchanged) {
  StateNode good = kbd.save();
  std::vector<std::function<void(StateNode&)>> cases = {
      [](StateNode& n) { n.props["pending_command"] = {0xaa}; },
      [](StateNode& n) { n.props["command_byte"] = {1, 2}; },
      [](StateNode& n) { n.props["output_full"] = {7}; },
      [](StateNode& n) { n.props["output_aux"] = {1}; },  // aux without output
  };
  cmd(0xad);
  I8042State before = kbd.state();
  for (size_t i = 0; i < cases.size(); ++i) {
    StateNode bad = good;
    cases[i](bad);
    EXPECT_THROW(kbd.restore(bad), Error) << i;
    EXPECT_EQ(kbd.state(), before) << i;
  }
}

}  // namespace
}  // namespace amber::dev
