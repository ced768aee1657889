#pragma once
// A 16550A UART (8 registers at COM1 0x3f8), as much of it as Linux's 8250
// driver and an interactive shell need. Transmission is instant: a byte
// written to THR goes straight to the output callback and THR is empty again.
//
// References: TI/National PC16550D datasheet (register descriptions cited as
// "16550D, <register>"), Linux drivers/tty/serial/8250/8250_port.c for what
// the driver expects, QEMU hw/char/serial.c and kvmtool hw/serial.c for how
// other VMMs resolve the datasheet's timing-dependent corners.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amber/device.h"
#include "amber/irq.h"
#include "amber/state.h"

namespace amber::dev {

struct UartState {
  // Receive FIFO depth. A real 16550A holds 16 bytes; 64 lets a pasted line
  // arrive in fewer interrupts and Linux drains up to 256 bytes per interrupt.
  static constexpr size_t kFifoSize = 64;

  uint8_t ier = 0;     // bits 0-3 only (16550D, IER: bits 4-7 are always 0)
  uint8_t fcr = 0;     // FE, DMA mode and trigger bits; the reset bits self-clear
  uint8_t lcr = 0;
  uint8_t mcr = 0;     // bits 0-4 only
  uint8_t lsr = 0x60;  // THRE|TEMT always set (instant transmit); DR mirrors rx_fifo
  uint8_t msr = 0xb0;  // DCD|DSR|CTS asserted outside loopback; bits 0-3 are the deltas
  uint8_t scr = 0;
  uint8_t dll = 12;    // divisor 12: 9600 baud from the 1.8432 MHz PC clock
  uint8_t dlm = 0;
  // The THRE interrupt source: set when THR empties, cleared by reading IIR
  // while it reports THRE (16550D, "Interrupt Control Functions" table).
  bool thre_pending = false;
  std::vector<uint8_t> rx_fifo;  // oldest byte first

  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("ier", s.ier)("fcr", s.fcr)("lcr", s.lcr)("mcr", s.mcr)("lsr", s.lsr)("msr", s.msr)("scr", s.scr);
    ar("dll", s.dll)("dlm", s.dlm)("thre_pending", s.thre_pending)("rx_fifo", s.rx_fifo, kFifoSize);
  }
  bool operator==(const UartState&) const = default;
};

class Uart : public Device {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  static constexpr uint64_t kWindowSize = 8;

  // `out` receives every transmitted byte, in order. It is called without the
  // UART's state lock held (so it may call read(), enqueue_input() or
  // rx_has_space()), serialized by a second lock, so it must not write to the
  // UART itself. It runs on the vCPU thread that wrote THR.
  Uart(std::string name, IrqLine& irq, Output out);

  std::string_view name() const override { return name_; }
  // Byte registers; a wider access touches consecutive registers.
  void read(uint64_t offset, std::span<uint8_t> data) noexcept override;
  void write(uint64_t offset, std::span<const uint8_t> data) noexcept override;

  StateNode save() const override;
  // Validates the node (FIFO size, reserved bits, LSR/MSR consistent with the
  // FIFO and MCR); throws Error and leaves the UART unchanged when invalid.
  // Sets the IRQ line to the restored interrupt condition.
  void restore(const StateNode& node) override;

  // Host input (the stdin thread). Returns how many leading bytes fit in the
  // receive FIFO; the caller keeps the rest and retries later. Nothing fits
  // in loopback mode, where the serial input is disconnected (16550D, MCR
  // bit 4), or while FIFOs are off beyond the single holding register.
  size_t enqueue_input(std::span<const uint8_t> bytes) noexcept;
  bool rx_has_space() const;

  // amber's guest -> VMM doorbell (docs/api.md): called, without the state
  // lock, when the guest sets MCR.OUT1 (0 -> 1) outside loopback. OUT1 drives
  // nothing on a PC, and unprivileged Linux code can set it through
  // ioctl(TIOCMBIS, TIOCM_OUT1) on /dev/ttyS0. Set before the vCPUs start.
  void set_out1_doorbell(std::function<void()> f) { out1_doorbell_ = std::move(f); }

  // Introspection without side effects (tests, `amber inspect`).
  UartState state() const;
  // The value a read of IIR would return now, without clearing THRE.
  uint8_t interrupt_id() const;

 private:
  uint8_t read_reg(uint8_t reg);
  // Returns true and sets `tx` when the write transmitted a byte.
  bool write_reg(uint8_t reg, uint8_t v, uint8_t& tx);
  void write_mcr(uint8_t v);
  void push_rx(uint8_t b);
  size_t rx_capacity() const;
  void update_irq();

  std::string name_;
  IrqLine& irq_;
  Output out_;
  std::function<void()> out1_doorbell_;
  mutable std::mutex mu_;  // guards s_ and irq_level_
  std::mutex out_mu_;      // serializes calls to out_; never taken while mu_ is held
  UartState s_;
  bool irq_level_ = false;
};

}  // namespace amber::dev
