#include "uart.h"

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::dev {
namespace {

// Register offsets (16550D, Table II "Register Addresses").
constexpr uint8_t kRbrThr = 0;  // DLL when LCR.DLAB
constexpr uint8_t kIer = 1;     // DLM when LCR.DLAB
constexpr uint8_t kIirFcr = 2;
constexpr uint8_t kLcr = 3;
constexpr uint8_t kMcr = 4;
constexpr uint8_t kLsr = 5;
constexpr uint8_t kMsr = 6;
constexpr uint8_t kScr = 7;

constexpr uint8_t kIerRda = 0x01;   // ERBFI: received data available
constexpr uint8_t kIerThre = 0x02;  // ETBEI: THR empty
constexpr uint8_t kIerRls = 0x04;   // ELSI: receiver line status
constexpr uint8_t kIerMs = 0x08;    // EDSSI: modem status
constexpr uint8_t kIerMask = 0x0f;

constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirMs = 0x00;
constexpr uint8_t kIirThre = 0x02;
constexpr uint8_t kIirRda = 0x04;
constexpr uint8_t kIirRls = 0x06;
constexpr uint8_t kIirTimeout = 0x0c;
constexpr uint8_t kIirIdMask = 0x0f;
constexpr uint8_t kIirFifos = 0xc0;  // "FIFOs enabled" (16550D, IIR bits 6-7)

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrRxReset = 0x02;
constexpr uint8_t kFcrKeep = 0xc9;  // enable, DMA mode select, RX trigger

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02;
constexpr uint8_t kLsrErrors = 0x1e;  // OE, PE, FE, BI: cleared by reading LSR
constexpr uint8_t kLsrThre = 0x20, kLsrTemt = 0x40;

constexpr uint8_t kMsrDcts = 0x01, kMsrDdsr = 0x02, kMsrTeri = 0x04, kMsrDdcd = 0x08;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
constexpr uint8_t kMsrDeltas = 0x0f;
// No modem is attached: report carrier, data set ready and clear to send so
// that a getty without CLOCAL does not wait for carrier (QEMU does the same).
constexpr uint8_t kMsrIdle = kMsrDcd | kMsrDsr | kMsrCts;

// In loopback the modem control outputs drive the status inputs: RTS->CTS,
// DTR->DSR, OUT1->RI, OUT2->DCD (16550D, MCR bit 4).
uint8_t modem_inputs(uint8_t mcr) {
  if (!(mcr & kMcrLoop)) return kMsrIdle;
  uint8_t m = 0;
  if (mcr & kMcrRts) m |= kMsrCts;
  if (mcr & kMcrDtr) m |= kMsrDsr;
  if (mcr & kMcrOut1) m |= kMsrRi;
  if (mcr & kMcrOut2) m |= kMsrDcd;
  return m;
}

// RX FIFO trigger level from FCR bits 6-7 (16550D, FCR).
size_t rx_trigger(uint8_t fcr) {
  static constexpr std::array<size_t, 4> kLevels{1, 4, 8, 14};
  return kLevels[fcr >> 6];
}

// The interrupt identification for a state, highest priority first
// (16550D, Table IV): line status > received data (or character timeout) >
// THR empty > modem status.
uint8_t compute_iir(const UartState& s) {
  uint8_t id = kIirNone;
  bool fifos = s.fcr & kFcrEnable;
  if ((s.ier & kIerRls) && (s.lsr & kLsrErrors)) {
    id = kIirRls;
  } else if ((s.ier & kIerRda) && (s.lsr & kLsrDr)) {
    // Below the trigger level a 16550A reports a character timeout once no
    // byte arrived for 4 character times. Host input arrives in bursts and
    // there is no receive clock here, so the timeout is taken as expired at
    // once; Linux treats both IDs the same (serial8250_handle_irq).
    id = (fifos && s.rx_fifo.size() < rx_trigger(s.fcr)) ? kIirTimeout : kIirRda;
  } else if ((s.ier & kIerThre) && s.thre_pending) {
    id = kIirThre;
  } else if ((s.ier & kIerMs) && (s.msr & kMsrDeltas)) {
    id = kIirMs;
  }
  return fifos ? uint8_t(id | kIirFifos) : id;
}

void validate(const UartState& s) {
  auto bad = [](std::string_view what) { throw Error(fmt::format("image: uart state is invalid: {}", what)); };
  if (s.ier & ~kIerMask) bad("reserved IER bits set");
  if (s.fcr & ~kFcrKeep) bad("reserved FCR bits set");
  if (s.fcr != 0 && !(s.fcr & kFcrEnable)) bad("FCR bits set with FIFOs disabled");
  if (s.mcr & ~kMcrMask) bad("reserved MCR bits set");
  if (s.rx_fifo.size() > UartState::kFifoSize) bad("receive FIFO too large");
  if (!(s.fcr & kFcrEnable) && s.rx_fifo.size() > 1) bad("more than one received byte with FIFOs disabled");
  if ((s.lsr & (kLsrThre | kLsrTemt)) != (kLsrThre | kLsrTemt)) bad("LSR transmitter not empty");
  if (s.lsr & 0x80) bad("LSR FIFO error bit set");
  if (bool(s.lsr & kLsrDr) != !s.rx_fifo.empty()) bad("LSR.DR disagrees with the receive FIFO");
  if ((s.msr & ~kMsrDeltas) != modem_inputs(s.mcr)) bad("MSR disagrees with MCR");
}

}  // namespace

Uart::Uart(std::string name, IrqLine& irq, Output out) : name_(std::move(name)), irq_(irq), out_(std::move(out)) {}

void Uart::read(uint64_t offset, std::span<uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t reg = offset + i;
    data[i] = reg < kWindowSize ? read_reg(uint8_t(reg)) : 0xff;
  }
  update_irq();
}

void Uart::write(uint64_t offset, std::span<const uint8_t> data) noexcept {
  // A port write is 1, 2 or 4 bytes; collect what it transmits and hand it to
  // out_ after dropping the state lock.
  std::array<uint8_t, 8> tx_buf;
  size_t ntx = 0;
  bool ring = false;
  {
    std::lock_guard lock(mu_);
    uint8_t old_mcr = s_.mcr;
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t reg = offset + i;
      uint8_t tx;
      if (reg < kWindowSize && write_reg(uint8_t(reg), data[i], tx) && ntx < tx_buf.size()) tx_buf[ntx++] = tx;
    }
    update_irq();
    ring = !(old_mcr & kMcrOut1) && (s_.mcr & kMcrOut1) && !(s_.mcr & kMcrLoop);
  }
  if (ring && out1_doorbell_) {
    try {
      out1_doorbell_();
    } catch (...) {
      // Host code; nothing may unwind into the vCPU loop (see out_ below).
    }
  }
  if (ntx && out_) {
    // Two vCPUs writing THR at once race on real hardware too; any order of
    // such concurrent bytes is valid, and writes ordered by the guest (one
    // returns before the next starts) reach out_ in that order.
    std::lock_guard lock(out_mu_);
    try {
      out_(std::span<const uint8_t>(tx_buf.data(), ntx));
    } catch (...) {
      // The output sink is host code; a failure there must not unwind into
      // the vCPU loop through a noexcept path. The byte is lost.
    }
  }
}

uint8_t Uart::read_reg(uint8_t reg) {
  bool dlab = s_.lcr & kLcrDlab;
  switch (reg) {
    case kRbrThr: {
      if (dlab) return s_.dll;
      if (s_.rx_fifo.empty()) return 0;  // DR clear: the value is undefined on hardware
      uint8_t b = s_.rx_fifo.front();
      s_.rx_fifo.erase(s_.rx_fifo.begin());
      if (s_.rx_fifo.empty()) s_.lsr &= uint8_t(~kLsrDr);
      return b;
    }
    case kIer:
      return dlab ? s_.dlm : s_.ier;
    case kIirFcr: {
      uint8_t iir = compute_iir(s_);
      // Reading IIR while it reports THRE clears that source (16550D, Table IV).
      if ((iir & kIirIdMask) == kIirThre) s_.thre_pending = false;
      return iir;
    }
    case kLcr:
      return s_.lcr;
    case kMcr:
      return s_.mcr;
    case kLsr: {
      uint8_t v = s_.lsr;
      s_.lsr &= uint8_t(~kLsrErrors);  // error bits clear on read (16550D, LSR)
      return v;
    }
    case kMsr: {
      uint8_t v = s_.msr;
      s_.msr &= uint8_t(~kMsrDeltas);  // delta bits clear on read (16550D, MSR)
      return v;
    }
    default:
      return s_.scr;
  }
}

bool Uart::write_reg(uint8_t reg, uint8_t v, uint8_t& tx) {
  bool dlab = s_.lcr & kLcrDlab;
  switch (reg) {
    case kRbrThr:
      if (dlab) {
        s_.dll = v;
        return false;
      }
      // Writing THR clears the THRE interrupt; instant transmission makes THR
      // empty again at once, so THRE is pending again. The line must drop in
      // between: IRQ 4 is edge-triggered through the IOAPIC, and a line that
      // stays high would never deliver the new THRE interrupt (QEMU does the
      // same pulse).
      s_.thre_pending = false;
      update_irq();
      s_.thre_pending = true;
      if (s_.mcr & kMcrLoop) {
        push_rx(v);  // loopback: the transmitter feeds the receiver
        return false;
      }
      tx = v;
      return true;
    case kIer: {
      if (dlab) {
        s_.dlm = v;
        return false;
      }
      uint8_t changed = (s_.ier ^ v) & kIerThre;
      s_.ier = v & kIerMask;
      // Enabling ETBEI while THR is empty raises THRE again, even if an IIR
      // read had cleared it; Linux's THRE test in serial8250_do_startup()
      // toggles IER to check this (QEMU and Bochs resample on the edge too).
      if (changed) s_.thre_pending = (s_.ier & kIerThre) && (s_.lsr & kLsrThre);
      return false;
    }
    case kIirFcr: {
      // A change of FCR0 clears both FIFOs; with FCR0 = 0 the other bits are
      // not programmed (16550D, FCR).
      bool enable = v & kFcrEnable;
      if (enable != bool(s_.fcr & kFcrEnable) || (enable && (v & kFcrRxReset))) s_.rx_fifo.clear();
      s_.fcr = enable ? uint8_t(v & kFcrKeep) : 0;
      if (s_.rx_fifo.empty()) s_.lsr &= uint8_t(~kLsrDr);
      return false;
    }
    case kLcr:
      s_.lcr = v;
      return false;
    case kMcr:
      write_mcr(v & kMcrMask);
      return false;
    case kLsr:
    case kMsr:
      return false;  // read-only here (writes are factory test modes)
    default:
      s_.scr = v;
      return false;
  }
}

void Uart::write_mcr(uint8_t v) {
  s_.mcr = v;
  uint8_t old_in = s_.msr & ~kMsrDeltas;
  uint8_t in = modem_inputs(v);
  uint8_t changed = old_in ^ in;
  uint8_t deltas = s_.msr & kMsrDeltas;
  if (changed & kMsrCts) deltas |= kMsrDcts;
  if (changed & kMsrDsr) deltas |= kMsrDdsr;
  if ((old_in & kMsrRi) && !(in & kMsrRi)) deltas |= kMsrTeri;  // trailing edge only
  if (changed & kMsrDcd) deltas |= kMsrDdcd;
  s_.msr = uint8_t(in | deltas);
}

size_t Uart::rx_capacity() const {
  // Without FIFOs the receiver holds one byte (16450 mode).
  return (s_.fcr & kFcrEnable) ? UartState::kFifoSize : 1;
}

void Uart::push_rx(uint8_t b) {
  if (s_.rx_fifo.size() < rx_capacity()) {
    s_.rx_fifo.push_back(b);
  } else {
    // Overrun (16550D, LSR bit 1): in FIFO mode the new byte is lost; in
    // 16450 mode it overwrites the holding register.
    s_.lsr |= kLsrOe;
    if (!(s_.fcr & kFcrEnable)) s_.rx_fifo.back() = b;
  }
  s_.lsr |= kLsrDr;
}

void Uart::update_irq() {
  // Level-triggered: the line follows "an interrupt is pending". It is not
  // gated by MCR.OUT2 (the PC's tristate buffer), like QEMU and kvmtool:
  // Linux sets OUT2 whenever it enables interrupts and clears IER when it
  // clears OUT2, so gating would change nothing for it.
  bool level = !(compute_iir(s_) & kIirNone);
  if (level != irq_level_) {
    irq_level_ = level;
    irq_.set_level(level);
  }
}

size_t Uart::enqueue_input(std::span<const uint8_t> bytes) noexcept {
  std::lock_guard lock(mu_);
  if (s_.mcr & kMcrLoop) return 0;
  size_t n = std::min(bytes.size(), rx_capacity() - std::min(rx_capacity(), s_.rx_fifo.size()));
  if (n == 0) return 0;
  s_.rx_fifo.insert(s_.rx_fifo.end(), bytes.begin(), bytes.begin() + ptrdiff_t(n));
  s_.lsr |= kLsrDr;
  update_irq();
  return n;
}

bool Uart::rx_has_space() const {
  std::lock_guard lock(mu_);
  return !(s_.mcr & kMcrLoop) && s_.rx_fifo.size() < rx_capacity();
}

UartState Uart::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

uint8_t Uart::interrupt_id() const {
  std::lock_guard lock(mu_);
  return compute_iir(s_);
}

StateNode Uart::save() const {
  std::lock_guard lock(mu_);
  return save_state(s_);
}

void Uart::restore(const StateNode& node) {
  UartState s = load_state<UartState>(node, name_);
  validate(s);
  std::lock_guard lock(mu_);
  s_ = std::move(s);
  irq_level_ = !(compute_iir(s_) & kIirNone);
  irq_.set_level(irq_level_);  // unconditionally: the irqchip state may be fresh
}

}  // namespace amber::dev
