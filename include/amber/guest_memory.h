#pragma once
// Guest physical memory: a set of non-overlapping regions, each backed by a
// host mapping. Every access with a guest-provided address goes through
// try_slice(), which never returns memory outside a region.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "amber/error.h"
#include "amber/mapping.h"

namespace amber {

struct GuestRegion {
  uint64_t gpa = 0;   // guest physical start
  uint64_t size = 0;  // bytes
  uint8_t* host = nullptr;
  Mapping mapping;    // empty when the memory is owned elsewhere (tests)

  bool contains(uint64_t addr) const noexcept { return addr >= gpa && addr - gpa < size; }
};

class GuestMemory {
 public:
  GuestMemory() = default;
  GuestMemory(GuestMemory&&) = default;
  GuestMemory& operator=(GuestMemory&&) = default;

  // Adds a region; throws Error when it overlaps an existing one.
  void add_region(uint64_t gpa, Mapping mapping) {
    uint64_t size = mapping.size();
    uint8_t* host = mapping.data();
    add(GuestRegion{gpa, size, host, std::move(mapping)});
  }
  // Adds memory owned by the caller (unit tests, fuzzers).
  void add_unowned_region(uint64_t gpa, std::span<uint8_t> mem) {
    add(GuestRegion{gpa, mem.size(), mem.data(), Mapping{}});
  }

  const std::vector<GuestRegion>& regions() const noexcept { return regions_; }
  uint64_t total_size() const noexcept {
    uint64_t t = 0;
    for (auto& r : regions_) t += r.size;
    return t;
  }

  // The host bytes for [gpa, gpa+len) when the whole range lies inside one
  // region; std::nullopt otherwise (including on overflow). len 0 is valid
  // inside or at the end of a region.
  std::optional<std::span<uint8_t>> try_slice(uint64_t gpa, uint64_t len) const noexcept {
    for (auto& r : regions_) {
      if (gpa < r.gpa) continue;
      uint64_t off = gpa - r.gpa;
      if (off > r.size || len > r.size - off) continue;
      return std::span<uint8_t>(r.host + off, len);
    }
    return std::nullopt;
  }

  // Copies a trivially copyable object from guest memory (unaligned-safe).
  template <class T>
  std::optional<T> read_obj(uint64_t gpa) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    auto s = try_slice(gpa, sizeof(T));
    if (!s) return std::nullopt;
    T v;
    std::memcpy(&v, s->data(), sizeof(T));
    return v;
  }
  template <class T>
  bool write_obj(uint64_t gpa, const T& v) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    auto s = try_slice(gpa, sizeof(T));
    if (!s) return false;
    std::memcpy(s->data(), &v, sizeof(T));
    return true;
  }

  // VMM-side writes (boot setup): out of range is a host bug -> Error.
  void write(uint64_t gpa, std::span<const uint8_t> data) const {
    auto s = try_slice(gpa, data.size());
    if (!s) throw Error(fmt::format("guest write of {} bytes at {:#x} is outside RAM", data.size(), gpa));
    // Large writes are the kernel and initrd at boot: fault their pages in
    // at once (mapping.h). The partial first and last pages are written too.
    if (data.size() >= kPopulateMin) populate_for_write(s->data(), data.size());
    if (!data.empty()) std::memcpy(s->data(), data.data(), data.size());
  }
  void read(uint64_t gpa, std::span<uint8_t> out) const {
    auto s = try_slice(gpa, out.size());
    if (!s) throw Error(fmt::format("guest read of {} bytes at {:#x} is outside RAM", out.size(), gpa));
    if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  }

 private:
  static constexpr size_t kPopulateMin = 64 * 1024;

  void add(GuestRegion r) {
    if (r.size == 0) throw Error("empty guest memory region");
    if (r.gpa + r.size < r.gpa) throw Error("guest memory region wraps around");
    for (auto& o : regions_)
      if (r.gpa < o.gpa + o.size && o.gpa < r.gpa + r.size)
        throw Error(fmt::format("guest memory region {:#x}+{:#x} overlaps {:#x}+{:#x}", r.gpa, r.size, o.gpa, o.size));
    regions_.push_back(std::move(r));
  }

  std::vector<GuestRegion> regions_;
};

}  // namespace amber
