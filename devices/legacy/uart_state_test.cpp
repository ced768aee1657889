// UART save/restore: mutate -> save differs; save -> mutate -> restore ->
// equal; corrupt or oversized nodes -> Error with the UART unchanged.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "amber/fake/recording_irq.h"
#include "uart.h"

namespace amber::dev {
namespace {

using amber::fake::RecordingIrq;

constexpr uint8_t kThr = 0, kIer = 1, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kScr = 7;

class UartStateTest : public ::testing::Test {
 protected:
  uint8_t rd(uint8_t reg) {
    uint8_t v = 0;
    uart.read(reg, {&v, 1});
    return v;
  }
  void wr(uint8_t reg, uint8_t v) { uart.write(reg, {&v, 1}); }
  void input(std::string_view s) { uart.enqueue_input({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }

  RecordingIrq irq;
  Uart uart{"uart0", irq, nullptr};
};

TEST_F(UartStateTest, EveryMutationChangesTheSavedNode) {
  std::vector<std::function<void()>> mutations = {
      [&] { wr(kIer, 0x01); },
      [&] { wr(kFcr, 0x81); },
      [&] { wr(kLcr, 0x03); },
      [&] { wr(kMcr, 0x0b); },
      [&] { wr(kScr, 0x5a); },
      [&] { wr(kLcr, 0x80); wr(0, 0x01); },
      [&] { wr(kLcr, 0x80); wr(1, 0x02); },
      [&] { wr(kThr, 'x'); },  // THRE source pending
      [&] { input("q"); },
      [&] { wr(kMcr, 0x10); wr(kThr, 'a'); wr(kThr, 'b'); },  // overrun: LSR.OE
  };
  for (size_t i = 0; i < mutations.size(); ++i) {
    RecordingIrq irq2;
    Uart fresh("uart0", irq2, nullptr);
    uart.restore(fresh.save());
    StateNode before = uart.save();
    mutations[i]();
    EXPECT_NE(uart.save(), before) << "mutation " << i;
  }
}

TEST_F(UartStateTest, SaveMutateRestoreIsEqual) {
  wr(kFcr, 0xc1);
  wr(kLcr, 0x83);
  wr(0, 0x01);
  wr(kLcr, 0x03);
  wr(kIer, 0x03);
  wr(kScr, 0x42);
  input("hello");
  UartState saved_state = uart.state();
  StateNode saved = uart.save();

  wr(kScr, 0);
  wr(kIer, 0);
  while (rd(kLsr) & 0x01) rd(kThr);
  wr(kFcr, 0);
  ASSERT_NE(uart.state(), saved_state);
  ASSERT_FALSE(irq.level());

  uart.restore(saved);
  EXPECT_EQ(uart.state(), saved_state);
  EXPECT_EQ(uart.save(), saved);
  EXPECT_TRUE(irq.level());  // line re-evaluated: RX data with ERBFI
  EXPECT_EQ(rd(kThr), 'h');  // and the FIFO works where it left off
}

TEST_F(UartStateTest, RestoreIntoAnotherUartAndReassertsLine) {
  wr(kIer, 0x02);  // THRE pending -> line high
  RecordingIrq irq2;
  Uart other("uart0", irq2, nullptr);
  other.restore(uart.save());
  EXPECT_EQ(other.state(), uart.state());
  EXPECT_EQ(irq2.levels(), std::vector<bool>{true});
  // A line that is low is still driven, to a fresh irqchip.
  RecordingIrq irq3;
  Uart idle("uart0", irq3, nullptr);
  idle.restore(Uart("uart0", irq3, nullptr).save());
  EXPECT_EQ(irq3.levels(), std::vector<bool>{false});
}

TEST_F(UartStateTest, MissingPropertiesKeepDefaults) {
  StateNode n = uart.save();
  n.props.erase("scr");
  n.props.erase("dll");
  wr(kScr, 9);
  uart.restore(n);
  EXPECT_EQ(rd(kScr), 0);
  EXPECT_EQ(uart.state().dll, 12);
}

struct Corruption {
  const char* what;
  std::function<void(StateNode&)> apply;
};

TEST_F(UartStateTest, CorruptNodeThrowsAndLeavesUartUnchanged) {
  wr(kFcr, 0x01);
  input("ab");
  StateNode good = uart.save();
  std::vector<Corruption> cases = {
      {"oversized fifo", [](StateNode& n) { n.props["rx_fifo"] = std::vector<uint8_t>(65, 'x'); }},
      {"wrong scalar size", [](StateNode& n) { n.props["ier"] = {1, 0}; }},
      {"bad bool", [](StateNode& n) { n.props["thre_pending"] = {2}; }},
      {"reserved IER bits", [](StateNode& n) { n.props["ier"] = {0x10}; }},
      {"reserved FCR bits", [](StateNode& n) { n.props["fcr"] = {0x07}; }},
      {"reserved MCR bits", [](StateNode& n) { n.props["mcr"] = {0x20}; }},
      {"DR without data", [](StateNode& n) { n.props["rx_fifo"] = {}; }},
      {"data without DR", [](StateNode& n) { n.props["lsr"] = {0x60}; }},
      {"THRE clear", [](StateNode& n) { n.props["lsr"] = {0x41}; }},
      {"MSR vs MCR", [](StateNode& n) { n.props["msr"] = {0x00}; }},
      {"two bytes without FIFO", [](StateNode& n) { n.props["fcr"] = {0x00}; }},
  };
  for (auto& c : cases) {
    StateNode bad = good;
    c.apply(bad);
    wr(kScr, 0x77);  // distinguishable state before the failed restore
    UartState before = uart.state();
    size_t calls = irq.set_level_calls();
    EXPECT_THROW(uart.restore(bad), Error) << c.what;
    EXPECT_EQ(uart.state(), before) << c.what;
    EXPECT_EQ(irq.set_level_calls(), calls) << c.what;
  }
}

}  // namespace
}  // namespace amber::dev
