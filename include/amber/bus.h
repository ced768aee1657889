#pragma once
// Address-space dispatch for port I/O and MMIO: maps [base, base+size) to a
// Device. Ranges may not overlap. Reads of unclaimed addresses return all
// ones (like an ISA bus with nothing driving it); writes are dropped.
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>

#include <fmt/core.h>

#include "amber/device.h"
#include "amber/error.h"

namespace amber {

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  void insert(Device& dev, uint64_t base, uint64_t size) {
    if (size == 0 || base + size < base) throw Error(fmt::format("{} bus: bad range {:#x}+{:#x}", name_, base, size));
    auto next = ranges_.lower_bound(base);
    if (next != ranges_.end() && next->first < base + size)
      throw Error(fmt::format("{} bus: {} at {:#x}+{:#x} overlaps {}", name_, dev.name(), base, size, next->second.dev->name()));
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second.size > base)
        throw Error(fmt::format("{} bus: {} at {:#x}+{:#x} overlaps {}", name_, dev.name(), base, size, prev->second.dev->name()));
    }
    ranges_.emplace(base, Range{size, &dev});
  }

  struct Hit {
    Device* dev;
    uint64_t offset;
  };
  // The device claiming [addr, addr+len), if one range covers all of it.
  std::optional<Hit> find(uint64_t addr, uint64_t len = 1) const noexcept {
    auto it = ranges_.upper_bound(addr);
    if (it == ranges_.begin()) return std::nullopt;
    --it;
    uint64_t off = addr - it->first;
    if (off >= it->second.size || len > it->second.size - off) return std::nullopt;
    return Hit{it->second.dev, off};
  }

  // True when a device handled the access.
  bool read(uint64_t addr, std::span<uint8_t> data) const noexcept {
    if (auto h = find(addr, data.size())) {
      h->dev->read(h->offset, data);
      return true;
    }
    std::memset(data.data(), 0xff, data.size());
    return false;
  }
  bool write(uint64_t addr, std::span<const uint8_t> data) const noexcept {
    if (auto h = find(addr, data.size())) {
      h->dev->write(h->offset, data);
      return true;
    }
    return false;
  }

  const std::string& name() const noexcept { return name_; }

 private:
  struct Range {
    uint64_t size;
    Device* dev;
  };
  std::string name_;
  std::map<uint64_t, Range> ranges_;
};

}  // namespace amber
