// Datasheet-style tests of the 16550A model (PC16550D register descriptions).
#include "uart.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "amber/fake/recording_irq.h"

namespace amber::dev {
namespace {

using amber::fake::RecordingIrq;

constexpr uint8_t kThr = 0, kIer = 1, kIir = 2, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;

class UartTest : public ::testing::Test {
 protected:
  uint8_t rd(uint8_t reg) {
    uint8_t v = 0;
    uart.read(reg, {&v, 1});
    return v;
  }
  void wr(uint8_t reg, uint8_t v) { uart.write(reg, {&v, 1}); }
  size_t input(std::string_view s) {
    return uart.enqueue_input({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }

  RecordingIrq irq;
  std::vector<uint8_t> out;
  Uart uart{"uart0", irq, [this](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }};
};

TEST_F(UartTest, ResetValues) {
  EXPECT_EQ(rd(kIer), 0x00);
  EXPECT_EQ(rd(kIir), 0x01);  // no interrupt pending, FIFOs off
  EXPECT_EQ(rd(kLcr), 0x00);
  EXPECT_EQ(rd(kMcr), 0x00);
  EXPECT_EQ(rd(kLsr), 0x60);  // THRE | TEMT
  EXPECT_EQ(rd(kMsr), 0xb0);  // DCD | DSR | CTS: a modem that is always ready
  EXPECT_FALSE(irq.level());
  EXPECT_EQ(irq.set_level_calls(), 0u);
}

TEST_F(UartTest, ThrWriteTransmitsInstantly) {
  wr(kThr, 'h');
  wr(kThr, 'i');
  EXPECT_EQ(out, (std::vector<uint8_t>{'h', 'i'}));
  EXPECT_EQ(rd(kLsr) & 0x60, 0x60);
}

TEST_F(UartTest, ThreInterruptRaisedWhenEtbeiSet) {
  wr(kIer, 0x02);
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(uart.interrupt_id(), 0x02);
}

TEST_F(UartTest, IirReadReportingThreClearsIt) {
  wr(kIer, 0x02);
  EXPECT_EQ(rd(kIir), 0x02);
  EXPECT_FALSE(irq.level());
  EXPECT_EQ(rd(kIir), 0x01);
}

TEST_F(UartTest, ThrWriteReraisesThre) {
  wr(kIer, 0x02);
  rd(kIir);
  ASSERT_FALSE(irq.level());
  wr(kThr, 'x');
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(rd(kIir), 0x02);
}

// The OUT1 doorbell (docs/api.md) rings on each 0 -> 1 edge of MCR.OUT1,
// never while OUT1 stays set, never when it is cleared, never in loopback
// (Linux's autoconfig loopback test must not ring it).
TEST_F(UartTest, Out1RisingEdgeRingsTheDoorbell) {
  int rings = 0;
  uart.set_out1_doorbell([&] { ++rings; });
  wr(kMcr, 0x0b);  // DTR|RTS|OUT2, what Linux sets when it opens the port
  EXPECT_EQ(rings, 0);
  wr(kMcr, 0x0f);  // + OUT1
  EXPECT_EQ(rings, 1);
  wr(kMcr, 0x0f);
  EXPECT_EQ(rings, 1);
  wr(kMcr, 0x0b);
  EXPECT_EQ(rings, 1);
  wr(kMcr, 0x1f);  // loopback + OUT1
  EXPECT_EQ(rings, 1);
  wr(kMcr, 0x0b);
  wr(kMcr, 0x04);
  EXPECT_EQ(rings, 2);
  EXPECT_EQ(rd(kMcr), 0x04);
}

// IRQ 4 reaches the guest through an edge-triggered IOAPIC pin: a THR write
// while THRE is still pending must drop the line and raise it again, or the
// guest never sees the new THRE interrupt.
TEST_F(UartTest, ThrWriteWhileThrePendingPulsesTheLine) {
  wr(kIer, 0x02);
  ASSERT_TRUE(irq.level());
  size_t before = irq.set_level_calls();
  wr(kThr, 'x');
  auto levels = irq.levels();
  ASSERT_EQ(levels.size(), before + 2);
  EXPECT_FALSE(levels[before]);
  EXPECT_TRUE(levels[before + 1]);
}

// Linux's serial8250_do_startup() THRE test: IER = THRI, read IIR, IER = 0,
// IER = THRI, read IIR; the second read must show THRE again.
TEST_F(UartTest, ReenablingEtbeiReraisesThre) {
  wr(kIer, 0x02);
  EXPECT_EQ(rd(kIir) & 0x0f, 0x02);
  wr(kIer, 0x00);
  EXPECT_FALSE(irq.level());
  wr(kIer, 0x02);
  EXPECT_EQ(rd(kIir) & 0x0f, 0x02);
}

TEST_F(UartTest, NoThreInterruptWithoutEtbei) {
  wr(kThr, 'x');
  EXPECT_FALSE(irq.level());
  EXPECT_EQ(rd(kIir), 0x01);
}

TEST_F(UartTest, DlabSwitchesRegisters0And1ToDivisor) {
  wr(kIer, 0x05);
  wr(kLcr, 0x83);  // DLAB, 8N1
  wr(0, 0x01);     // DLL: 115200 baud
  wr(1, 0x00);     // DLM
  EXPECT_EQ(rd(0), 0x01);
  EXPECT_EQ(rd(1), 0x00);
  EXPECT_TRUE(out.empty());  // DLL writes are not transmitted
  wr(kLcr, 0x03);
  EXPECT_EQ(rd(kIer), 0x05);  // IER untouched by the DLM write
  EXPECT_EQ(uart.state().dll, 0x01);
  EXPECT_EQ(uart.state().dlm, 0x00);
  wr(kThr, 'z');
  EXPECT_EQ(out, std::vector<uint8_t>{'z'});
}

TEST_F(UartTest, LoopbackEchoesIntoReceiver) {
  wr(kMcr, 0x10);
  wr(kThr, 'a');
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(rd(kLsr) & 0x01, 0x01);
  EXPECT_EQ(rd(kThr), 'a');
  EXPECT_EQ(rd(kLsr) & 0x01, 0x00);
  wr(kFcr, 0x01);
  wr(kThr, 'c');
  wr(kThr, 'd');
  EXPECT_EQ(rd(kThr), 'c');
  EXPECT_EQ(rd(kThr), 'd');
  EXPECT_EQ(rd(kLsr) & 0x03, 0x00);
  wr(kMcr, 0x00);
  wr(kThr, 'e');  // out of loopback, bytes leave again
  EXPECT_EQ(out, std::vector<uint8_t>{'e'});
}

TEST_F(UartTest, LoopbackOverrunWithoutFifoKeepsNewestByte) {
  wr(kMcr, 0x10);
  wr(kThr, 'a');
  wr(kThr, 'b');
  EXPECT_EQ(rd(kLsr) & 0x03, 0x03);  // DR | OE
  EXPECT_EQ(rd(kThr), 'b');
}

TEST_F(UartTest, MsrFollowsMcrInLoopback) {
  wr(kMcr, 0x10 | 0x0a);  // LOOP | OUT2 | RTS: Linux's autoconfig loopback test
  EXPECT_EQ(rd(kMsr) & 0xf0, 0x90);  // DCD | CTS
  wr(kMcr, 0x10 | 0x05);  // LOOP | OUT1 | DTR
  EXPECT_EQ(rd(kMsr), 0x60 | 0x0b);  // DSR | RI; DCTS, DDSR, DDCD changed (RI rose: no TERI)
  EXPECT_EQ(rd(kMsr), 0x60);  // deltas clear on read
  wr(kMcr, 0x10);
  EXPECT_EQ(rd(kMsr), 0x06);  // TERI on RI's trailing edge, DDSR
  wr(kMcr, 0x00);
  EXPECT_EQ(rd(kMsr) & 0xf0, 0xb0);
}

TEST_F(UartTest, ModemStatusInterruptHasLowestPriority) {
  wr(kIer, 0x08);
  wr(kMcr, 0x10 | 0x02);  // CTS rises
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(uart.interrupt_id(), 0x00);
  wr(kIer, 0x0a);  // THRE outranks modem status
  EXPECT_EQ(rd(kIir), 0x02);
  EXPECT_EQ(rd(kIir), 0x00);
  rd(kMsr);
  EXPECT_EQ(rd(kIir), 0x01);
  EXPECT_FALSE(irq.level());
}

TEST_F(UartTest, FifoOverflowSetsOeAndDropsNewBytes) {
  wr(kFcr, 0x01);
  wr(kMcr, 0x10);
  for (int i = 0; i < 70; ++i) wr(kThr, uint8_t(i));
  EXPECT_EQ(uart.state().rx_fifo.size(), UartState::kFifoSize);
  EXPECT_EQ(rd(kLsr) & 0x03, 0x03);
  EXPECT_EQ(rd(kLsr) & 0x02, 0x00);  // OE clears on read
  for (int i = 0; i < 64; ++i) EXPECT_EQ(rd(kThr), i);
  EXPECT_EQ(rd(kLsr) & 0x01, 0x00);
}

TEST_F(UartTest, InterruptPriorityLineStatusThenRxThenThre) {
  wr(kFcr, 0x01);
  wr(kIer, 0x07);  // RLS | THRE | RDA
  wr(kMcr, 0x10);
  for (int i = 0; i < 65; ++i) wr(kThr, 'x');  // one overrun
  EXPECT_EQ(rd(kIir), 0xc6);  // line status, FIFOs enabled
  EXPECT_EQ(rd(kIir), 0xc6);  // persists until LSR is read
  rd(kLsr);
  EXPECT_EQ(rd(kIir), 0xc4);  // received data at or above the trigger level (1)
  while (rd(kLsr) & 0x01) rd(kThr);
  EXPECT_EQ(rd(kIir), 0xc2);  // then THRE, cleared by this read
  EXPECT_EQ(rd(kIir), 0xc1);
  EXPECT_FALSE(irq.level());
}

TEST_F(UartTest, RxInterruptFollowsDataReady) {
  wr(kIer, 0x01);
  EXPECT_EQ(input("k"), 1u);
  EXPECT_TRUE(irq.level());
  EXPECT_EQ(rd(kIir), 0x04);
  EXPECT_EQ(rd(kLsr), 0x61);
  EXPECT_EQ(rd(kThr), 'k');
  EXPECT_FALSE(irq.level());
  EXPECT_EQ(rd(kIir), 0x01);
}

TEST_F(UartTest, BelowTriggerLevelReportsCharacterTimeout) {
  wr(kFcr, 0xc1);  // FIFOs on, trigger at 14
  wr(kIer, 0x01);
  EXPECT_EQ(input("abc"), 3u);
  EXPECT_EQ(rd(kIir), 0xcc);
  EXPECT_EQ(input("defghijklmn"), 11u);
  EXPECT_EQ(rd(kIir), 0xc4);
}

TEST_F(UartTest, InputIsLimitedByReceiverCapacity) {
  EXPECT_EQ(input("ab"), 1u);  // FIFOs off: one holding register
  EXPECT_FALSE(uart.rx_has_space());
  EXPECT_EQ(input("b"), 0u);
  EXPECT_EQ(rd(kThr), 'a');
  EXPECT_TRUE(uart.rx_has_space());
  wr(kFcr, 0x01);
  std::string big(100, 'q');
  EXPECT_EQ(input(big), 64u);
  EXPECT_FALSE(uart.rx_has_space());
  EXPECT_EQ(input("z"), 0u);
  EXPECT_EQ(rd(kLsr) & 0x02, 0x00);  // host input never overruns
}

TEST_F(UartTest, LoopbackDisconnectsHostInput) {
  wr(kMcr, 0x10);
  EXPECT_FALSE(uart.rx_has_space());
  EXPECT_EQ(input("a"), 0u);
  wr(kMcr, 0x00);
  EXPECT_EQ(input("a"), 1u);
}

TEST_F(UartTest, FcrResetsAndFifoToggleClearReceiver) {
  wr(kFcr, 0x01);
  input("abc");
  wr(kFcr, 0x03);  // RX FIFO reset
  EXPECT_EQ(rd(kLsr) & 0x01, 0x00);
  EXPECT_EQ(rd(kIir) & 0xc0, 0xc0);  // reset bits self-clear; FIFOs stay on
  input("abc");
  wr(kFcr, 0x00);  // turning FIFOs off empties them
  EXPECT_EQ(rd(kLsr) & 0x01, 0x00);
  EXPECT_EQ(rd(kIir), 0x01);
  wr(kFcr, 0xc0);  // FCR0 = 0: the trigger bits are not programmed
  EXPECT_EQ(uart.state().fcr, 0x00);
}

TEST_F(UartTest, ScratchRegisterHoldsAnyValue) {
  for (int v : {0x00, 0x55, 0xaa, 0xff}) {
    wr(kScr, uint8_t(v));
    EXPECT_EQ(rd(kScr), v);
  }
}

TEST_F(UartTest, ReservedBitsReadZero) {
  wr(kIer, 0xff);
  EXPECT_EQ(rd(kIer), 0x0f);  // also hides XScale's UUE bit from Linux's probe
  wr(kMcr, 0xff);
  EXPECT_EQ(rd(kMcr), 0x1f);
}

TEST_F(UartTest, WideAccessTouchesConsecutiveRegisters) {
  uint8_t two[2] = {0, 0};
  uart.read(kLsr, two);
  EXPECT_EQ(two[0], 0x60);
  EXPECT_EQ(two[1], 0xb0);
  const uint8_t w[2] = {'A', 0x02};  // THR, IER
  uart.write(kThr, w);
  EXPECT_EQ(out, std::vector<uint8_t>{'A'});
  EXPECT_EQ(rd(kIer), 0x02);
}

TEST_F(UartTest, IrqLineChangesOnlyOnTransitions) {
  wr(kIer, 0x02);
  for (int i = 0; i < 10; ++i) wr(kScr, uint8_t(i));  // THRE stays pending: no new calls
  EXPECT_EQ(irq.levels(), std::vector<bool>{true});
  rd(kIir);
  EXPECT_EQ(irq.levels(), (std::vector<bool>{true, false}));
}

TEST_F(UartTest, OutputCallbackMayReenterTheUart) {
  RecordingIrq irq2;
  Uart* self = nullptr;
  bool saw_space = false;
  Uart u("uart1", irq2, [&](std::span<const uint8_t>) {
    uint8_t lsr = 0;
    self->read(kLsr, {&lsr, 1});  // would deadlock if out ran under the state lock
    saw_space = self->rx_has_space() && (lsr & 0x20);
  });
  self = &u;
  uint8_t c = 'x';
  u.write(kThr, {&c, 1});
  EXPECT_TRUE(saw_space);
}

TEST_F(UartTest, ConcurrentInputArrivesInOrder) {
  wr(kFcr, 0x01);
  wr(kIer, 0x01);
  constexpr int kBytes = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kBytes;) {
      uint8_t b = uint8_t(i * 7);
      if (uart.enqueue_input({&b, 1}) == 1) ++i;
      else std::this_thread::yield();
    }
  });
  int got = 0;
  bool in_order = true;
  while (got < kBytes) {
    if (rd(kLsr) & 0x01) {
      in_order &= rd(kThr) == uint8_t(got * 7);
      ++got;
    }
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(rd(kLsr) & 0x03, 0x00);
  EXPECT_FALSE(irq.level());
}

// Any sequence of guest accesses keeps the invariants: the FIFO is bounded,
// the IRQ line equals "IIR says pending", LSR.DR equals "FIFO non-empty".
TEST_F(UartTest, RandomAccessesKeepInvariants) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 200000; ++i) {
    uint8_t reg = uint8_t(rng() % 8), v = uint8_t(rng());
    switch (rng() % 3) {
      case 0: rd(reg); break;
      case 1: wr(reg, v); break;
      default: input(std::string(rng() % 80, char(v))); break;
    }
    UartState s = uart.state();
    ASSERT_LE(s.rx_fifo.size(), UartState::kFifoSize);
    ASSERT_EQ(irq.level(), !(uart.interrupt_id() & 0x01));
    ASSERT_EQ(bool(s.lsr & 0x01), !s.rx_fifo.empty());
  }
  // The state reached is one restore() accepts.
  RecordingIrq irq2;
  Uart copy("uart0", irq2, nullptr);
  EXPECT_NO_THROW(copy.restore(uart.save()));
  EXPECT_EQ(copy.state(), uart.state());
}

}  // namespace
}  // namespace amber::dev
