#pragma once
// A device that claims a port range and does nothing: the POST code port
// 0x80 (Linux writes it as an I/O delay, outb_p) and any other port the VMM
// wants answered quietly instead of logged as unclaimed.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "amber/device.h"

namespace amber::dev {

class NullDevice final : public Device {
 public:
  // Reads return `read_value` in every byte: 0xff by default, what an ISA bus
  // with nothing driving it returns (POST port reads are rare; nothing in
  // Linux depends on the value).
  explicit NullDevice(std::string name, uint8_t read_value = 0xff)
      : name_(std::move(name)), read_value_(read_value) {}

  std::string_view name() const override { return name_; }
  void read(uint64_t /*offset*/, std::span<uint8_t> data) noexcept override {
    std::fill(data.begin(), data.end(), read_value_);
  }
  void write(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) noexcept override {}

  // No state: save() is an empty node, and restore() accepts any node (newer
  // images may add properties; an older reader skips them).
  StateNode save() const override { return {}; }
  void restore(const StateNode& /*node*/) override {}

 private:
  std::string name_;
  uint8_t read_value_;
};

}  // namespace amber::dev
